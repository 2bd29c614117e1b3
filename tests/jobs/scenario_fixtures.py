"""Stores and runs for the scenario tests: the demo portfolio (one site with solar, a
battery, a gas turbine and grid channels; its PPA and solar VPPA) loaded through the
real ingest, and a scenario job run in this process with its own plan, map and
reduce (the job's functions; the Ray tests run the same through the executor)."""
from __future__ import annotations

from datetime import datetime, timezone

from jobs import scenario as sj
from jobs.specs import parse_spec
from jobs.tasks import JobContext, WorkerContext
from storage.objectstore import ObjectStore

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)
FIRST, LAST = "2026-09", "2026-10"


#: ``load_demo`` options of the scenario tests' store: TX-DC1, hourly, September-October
#: 2026 (plus August: VEE's history); ``demo_stores.copy(folder, **DEMO)``
DEMO = {"sites": 1, "months": 3, "minutes": 60, "end_period": LAST}


def scenario_doc(**kw) -> dict:
    """Base + a price shift + battery arbitrage + an unreachable battery + a VPPA strike
    + a 2 x 2 sweep, with the site energy table."""
    doc = {
        "scenario": "demo-what-if", "description": "test scenario",
        "base": {"from_period": FIRST, "to_period": LAST},
        "outputs": {"site_energy": True},
        "variants": [
            {"name": "hub +10", "transforms": [{"op": "price_shift", "series": {"node": "HB_NORTH"},
                                                "usd_per_mwh": "10"}]},
            {"name": "battery", "transforms": [
                {"op": "battery_dispatch", "site": "TX-DC1", "power_mw": "50", "energy_mwh": "200",
                 "round_trip_efficiency": "0.88", "cycles_per_day": "1.5", "window": "week"}]},
            {"name": "battery unreachable", "transforms": [
                {"op": "battery_dispatch", "site": "TX-DC1", "power_mw": "0.001", "energy_mwh": "200",
                 "soc_final_pct": "100", "window": "perfect"}]},
            {"name": "strike 30", "transforms": [{"op": "term_set", "term": "vppa",
                                                  "set": {"strike_usd_per_mwh": "30.00"}}]},
        ],
        "sweep": {"name": "x{f} +{s}", "parameters": [{"name": "f", "values": ["0.8", "1.2"]},
                                                       {"name": "s", "values": ["0", "5"]}],
                  "transforms": [{"op": "price_scale", "factor": "{f}"},
                                 {"op": "price_shift", "usd_per_mwh": "{s}"}]},
    }
    doc.update(kw)
    return doc


def run_in_process(store: ObjectStore, doc: dict, job_id: str) -> dict:
    """plan -> every partition (staged objects written, as a commit would) -> reduce."""
    spec = parse_spec({"kind": "scenario", "document": doc})
    jctx = JobContext(store=store, job_id=job_id, now_utc=NOW)
    results = {}
    cache: dict = {}
    for part in sj.plan(spec, jctx):
        wctx = WorkerContext(store=store, job_id=job_id, attempt=1, cache=cache)
        results[part.key] = sj.run_partition(part, wctx)
        for key, data in wctx.staged.items():
            store.put(key, data)
    return sj.reduce(spec, results, jctx)
