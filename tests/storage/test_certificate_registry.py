"""The certificate log on both backends: issued -> transferred -> cancelled, once and only once,
concurrent claims refused, concurrent distinct actions all kept."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.carbon.certificates import certificate_id, hour_iso
from engine.errors import ConflictError, NotFoundError, ValidationError
from engine.timebase import US_PER_HOUR
from storage.certificates import PREFIX, CertificateRegistry
from storage.objectstore import ObjectStore
from tests.support.race import race

AT = datetime(2026, 11, 5, 12, tzinfo=timezone.utc)
H = 1_790_000_000 * 1_000_000 // US_PER_HOUR * US_PER_HOUR


def _certs(site="TX-DC1", channel="pv1", hours=4, face=1000, ba="ERCO"):
    return [{"certificate_id": certificate_id(site, channel, H + i * US_PER_HOUR), "site_id": site,
             "channel": channel, "energy_source": "solar", "balancing_authority": ba,
             "hour_utc": hour_iso(H + i * US_PER_HOUR), "face_wh": face + i, "nameplate_w": 10**6}
            for i in range(hours)]


def _issue(reg, certs, site="TX-DC1", period="2026-09"):
    return reg.issue(site_id=site, period=period, account=site, certificates=certs, carry_uwh={},
                     data_versions={"meter": 0}, at_utc=AT)


def test_issue_transfer_cancel_and_the_state_as_of_each_version(storage_config):
    store = ObjectStore.from_config(storage_config)
    reg = CertificateRegistry(store)
    assert reg.version() is None
    certs = _certs()
    assert _issue(reg, certs) == (1, True)
    assert _issue(CertificateRegistry(store), certs) == (1, False)          # idempotent
    with pytest.raises(ConflictError, match="differ now"):
        _issue(reg, [dict(certs[0], face_wh=7), *certs[1:]])
    ids = [c["certificate_id"] for c in certs]
    assert reg.transfer(ids[:2], from_account="TX-DC1", to_account="BUYER", at_utc=AT) == 2
    with pytest.raises(ConflictError, match="held by BUYER"):
        reg.cancel(ids[:1], account="TX-DC1", beneficiary="TX-DC1", at_utc=AT)
    assert reg.cancel(ids[:1], account="BUYER", beneficiary="VA-DC1", at_utc=AT) == 3
    st = reg.state()
    assert [st.get(i).state for i in ids] == ["cancelled", "transferred", "issued", "issued"]
    assert st.get(ids[0]).beneficiary == "VA-DC1"
    # ids are numbered per device in issuance order: 1000 + 1001 + ...
    assert [st.get(i).range_start for i in ids] == [1, 1001, 2002, 3004]
    old = reg.state(1)
    assert {c.state for c in old.certificates.values()} == {"issued"}
    with pytest.raises(NotFoundError):
        reg.state(9)
    # claims for the beneficiary; the seller's own certificates no longer its own
    assert CertificateRegistry.claims(st, "VA-DC1", H, H + 10 * US_PER_HOUR) == [(H, 1000)]
    assert CertificateRegistry.sold(st, "TX-DC1", H, H + 10 * US_PER_HOUR) == [(H, 1000),
                                                                               (H + US_PER_HOUR, 1001)]
    export = CertificateRegistry.export(st, site_id="TX-DC1")
    assert export["total_certificate_volume"] == sum(c["face_wh"] for c in certs)
    statuses = [b["certificate_bundle_status"] for b in export["granular_certificate_bundles"]]
    assert statuses == ["Cancelled", "Active", "Active", "Active"]
    assert store.list(PREFIX) == [f"{PREFIX}{n:012d}.json" for n in (1, 2, 3)]


def test_a_certificate_is_cancelled_once_and_only_once(storage_config):
    store = ObjectStore.from_config(storage_config)
    reg = CertificateRegistry(store)
    certs = _certs(hours=1)
    _issue(reg, certs)
    cid = certs[0]["certificate_id"]
    reg.cancel([cid], account="TX-DC1", beneficiary="TX-DC1", at_utc=AT)
    with pytest.raises(ConflictError, match="already cancelled"):
        reg.cancel([cid], account="TX-DC1", beneficiary="TX-DC1", at_utc=AT)
    with pytest.raises(ConflictError, match="cancelled"):
        reg.transfer([cid], from_account="TX-DC1", to_account="X", at_utc=AT)
    assert reg.version() == 2


def test_concurrent_claims_of_one_certificate_one_wins_the_rest_are_refused(storage_config):
    store = ObjectStore.from_config(storage_config)
    certs = _certs(hours=1)
    _issue(CertificateRegistry(store), certs)
    cid = certs[0]["certificate_id"]

    def claim(i: int):
        try:
            return CertificateRegistry(store).cancel([cid], account="TX-DC1", beneficiary=f"B{i}", at_utc=AT)
        except ConflictError as exc:
            return exc
    results = race(claim, 6)
    won = [r for r in results if isinstance(r, int)]
    assert len(won) == 1 and won[0] == 2
    assert all("already cancelled" in str(r) for r in results if not isinstance(r, int))
    st = CertificateRegistry(store).state()
    assert st.seq == 2 and st.get(cid).state == "cancelled"


def test_concurrent_actions_on_distinct_certificates_are_all_kept(storage_config):
    store = ObjectStore.from_config(storage_config)
    certs = _certs(hours=6)
    _issue(CertificateRegistry(store), certs)
    ids = [c["certificate_id"] for c in certs]

    def act(i: int):
        reg = CertificateRegistry(store)
        if i % 2:
            return reg.transfer([ids[i]], from_account="TX-DC1", to_account=f"A{i}", at_utc=AT)
        return reg.cancel([ids[i]], account="TX-DC1", beneficiary=f"B{i}", at_utc=AT)
    seqs = race(act, 6)
    assert sorted(seqs) == [2, 3, 4, 5, 6, 7]                      # every action, one entry each
    st = CertificateRegistry(store).state()
    assert [st.get(i).state for i in ids] == ["cancelled", "transferred"] * 3


def test_bad_ids_and_unknown_certificates_are_refused(local_storage):
    reg = CertificateRegistry(ObjectStore.from_config(local_storage))
    _issue(reg, _certs(hours=1))
    with pytest.raises(NotFoundError):
        reg.cancel(["TX-DC1/pv1/2030-01-01T00:00:00Z"], account="TX-DC1", beneficiary="X", at_utc=AT)
    with pytest.raises(ValidationError):
        reg.cancel([_certs(hours=1)[0]["certificate_id"]], account="TX-DC1", beneficiary="../x", at_utc=AT)
    with pytest.raises(ValidationError, match="market boundary"):
        reg.cancel([_certs(hours=1)[0]["certificate_id"]], account="TX-DC1", beneficiary="VA-DC1", at_utc=AT,
                   beneficiary_ba="PJM")
    assert reg.version() == 1
