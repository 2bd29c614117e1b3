-- A job catalog as meter2cash created it before versioned migrations (main at f4682e2:
-- jobs/catalog.py and api/keystore.py, CREATE ... IF NOT EXISTS at every start), dumped
-- with sqlite3 iterdump: jobs in every kind of state, an Idempotency-Key bound in
-- job_idempotency_keys, one (legacy-key) whose binding row was removed as in files from
-- before that table existed, and two API keys (one revoked). The scheduler key is
-- m2c_3dfefe234f9b_p7oSQ6qODv4cgAcKX_ZXIII1KF1nz6MmztzsI0v2X8Y (a test fixture only).
-- tests/jobs/test_catalog_backends.py migrates it in place.
BEGIN TRANSACTION;
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    key_sha256  TEXT NOT NULL,
    role        TEXT NOT NULL,
    label       TEXT,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
INSERT INTO "api_keys" VALUES('3dfefe234f9b','2e6f592010b69894bde2e6541c43561a9fc76de14a1f95ee9fdf520256eb229b','scheduler','cron','2026-11-01T06:00:00Z',NULL);
INSERT INTO "api_keys" VALUES('57c652c9b70f','70557544f7dd559f2a15a3a41dbc010ef818b4348288864512a3686da2347049','analyst',NULL,'2026-11-01T06:00:00Z','2026-11-02T06:00:00Z');
CREATE TABLE job_idempotency_keys (
    principal        TEXT NOT NULL,          -- '' for none
    idempotency_key  TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,          -- of the request's spec
    job_id           TEXT NOT NULL REFERENCES jobs (id),
    created_us       INTEGER NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);
INSERT INTO "job_idempotency_keys" VALUES('k-scheduler','month-end-2026-10','06d4be618c94f0c482dd9415a3c9803498b3e8d966d5d329ae8f17f530318fb4','job-6f64f7e5c4c2',1793512800000000);
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    spec_json        TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,          -- sha256 of the canonical spec JSON
    state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled')),
    progress_done    INTEGER NOT NULL DEFAULT 0,
    progress_total   INTEGER NOT NULL DEFAULT 0,
    attempt          INTEGER NOT NULL DEFAULT 0,
    runner           TEXT,
    created_us       INTEGER NOT NULL,       -- UTC microseconds since the epoch
    started_us       INTEGER,
    finished_us      INTEGER,
    updated_us       INTEGER NOT NULL,
    error            TEXT,
    error_type       TEXT,
    result_json      TEXT,
    principal        TEXT,
    idempotency_key  TEXT,
    natural_key      TEXT
);
INSERT INTO "jobs" VALUES('job-6f64f7e5c4c2','settlement','{"as_of": null, "contracts": null, "kind": "settlement", "period": "2026-10"}','06d4be618c94f0c482dd9415a3c9803498b3e8d966d5d329ae8f17f530318fb4','succeeded',8,8,1,'ray-actor:m2c-job-x',1793512800000000,1793512801000000,1793512809000000,1793512809000000,NULL,NULL,'{"invoices": ["PPA-TX-DC1/2026-10/v1"], "manifest": "runs/x/manifest.json"}','k-scheduler','month-end-2026-10','settlement:2026-10:*');
INSERT INTO "jobs" VALUES('job-98fe00d5de19','settlement','{"as_of": null, "contracts": ["PPA-TX-DC1"], "kind": "settlement", "period": "2026-09"}','938f94a44d820d967a7c72d93a8251ad6728f5c53ae740f2dbb79d39ce887124','failed',0,0,0,NULL,1793512810000000,NULL,1793512811000000,1793512811000000,'no prices for ERCOT HB_HOUSTON 2026-09-14','DataMissingError',NULL,NULL,NULL,'settlement:2026-09:PPA-TX-DC1');
INSERT INTO "jobs" VALUES('job-ec72df2a6222','rebill','{"as_of": null, "contract": "PPA-TX-DC1", "from_period": "2026-01", "kind": "rebill", "reason": null, "to_period": "2026-09"}','6b6bf1825d42679a14f60bac498bbaffbc6e8b8ffc17f23cf9d297fdcefc6142','cancelling',0,0,1,'inline',1793512812000000,1793512813000000,NULL,1793512814000000,NULL,NULL,NULL,'cli',NULL,NULL);
INSERT INTO "jobs" VALUES('job-4c24e9d29a4d','rebill','{"as_of": null, "contract": "PPA-CA-1", "from_period": "2025-01", "kind": "rebill", "reason": null, "to_period": "2025-12"}','96192958679140491217e7e3a140b3aadb7a5f901cb1e56e7026684a57294aed','queued',0,0,0,NULL,1793512815000000,NULL,NULL,1793512815000000,NULL,NULL,NULL,'k-analyst','legacy-key',NULL);
INSERT INTO "jobs" VALUES('job-c8ef86b8e139','settlement','{"as_of": null, "contracts": null, "kind": "settlement", "period": "2026-11"}','aa14b555e8e37ea15771d4a3d2d0b309b7bde03f2a52a49920afd33e36722eed','queued',0,0,0,NULL,1793512816000000,NULL,NULL,1793512816000000,NULL,NULL,NULL,NULL,NULL,'settlement:2026-11:*');
CREATE UNIQUE INDEX jobs_idempotency
    ON jobs (COALESCE(principal, ''), idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX jobs_natural_key_live
    ON jobs (natural_key) WHERE natural_key IS NOT NULL AND state NOT IN ('cancelled', 'failed');
CREATE INDEX jobs_newest ON jobs (created_us DESC, id DESC);
CREATE INDEX jobs_state ON jobs (state);
COMMIT;
