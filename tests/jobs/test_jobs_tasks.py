"""Job-kind registry, partition commit markers and generic planning (no Ray)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.errors import DataMissingError, InputError, JobCancelledError, JobError
from jobs import probe
from jobs.parts import commit_part, committed_keys, load_committed, load_part
from jobs.planning import partition_key, plan_site_months, select_site_months
from jobs.kinds import KINDS, get_kind, parse_job_spec
from jobs.tasks import JobContext, Partition, WorkerContext, encode_key, part_prefix
from storage.objectstore import ObjectStore

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def test_registry_and_spec_parsing():
    assert get_kind("probe").spec_type is probe.ProbeSpec
    assert {"meter_totals", "probe"} <= set(KINDS)
    with pytest.raises(JobError, match="no runner"):
        get_kind("no_such_kind")
    assert isinstance(parse_job_spec({"kind": "probe", "items": 3}), probe.ProbeSpec)
    assert parse_job_spec({"kind": "settlement", "period": "2026-10"}).period == "2026-10"


def test_partition_keys_and_paths():
    assert partition_key("TX-DC1", "2026-10") == "TX-DC1|2026-10"
    with pytest.raises(ValueError):
        partition_key("A|B", "2026-10")
    assert encode_key("TX-DC1|2026-10") == "TX-DC1%7C2026-10"
    assert encode_key("Zürich/1") == "Z%C3%BCrich%2F1"
    assert part_prefix("job-1", "a|b") == "runs/job-1/parts/a%7Cb/"
    p = Partition("k", {"x": [1]}, weight=2)
    assert Partition.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError):
        Partition("", {})
    with pytest.raises(ValueError):
        Partition("k", {}, weight=0)


def test_commit_is_create_only_and_detects_non_determinism(local_storage):
    store = ObjectStore.from_config(local_storage)
    assert commit_part(store, "job-a", "S|2026-01", {"v": 1}, attempt=1) is True
    assert commit_part(store, "job-a", "S|2026-01", {"v": 1}, attempt=2) is False
    with pytest.raises(JobError, match="not deterministic"):
        commit_part(store, "job-a", "S|2026-01", {"v": 2}, attempt=3)
    commit_part(store, "job-a", "S|2026-02", {"v": 3}, attempt=1)
    assert len(committed_keys(store, "job-a")) == 2
    assert load_committed(store, "job-a") == {"S|2026-01": {"v": 1}, "S|2026-02": {"v": 3}}
    assert load_committed(store, "job-a", wanted=["S|2026-02", "other"]) == {"S|2026-02": {"v": 3}}
    assert load_committed(store, "job-none") == {}
    assert load_part(store, "job-a", "S|2026-02") == {"v": 3}
    assert load_part(store, "job-a", "S|2026-03") is None
    # a partition's staged objects are written with its result, before the marker
    ctx = WorkerContext(store=store, job_id="job-a", attempt=1, tables=object())
    ctx.stage(part_prefix("job-a", "S|2026-04") + "detail.parquet", b"detail")
    assert not store.list(part_prefix("job-a", "S|2026-04"))             # staged: not written
    commit_part(store, "job-a", "S|2026-04", {"v": 4}, attempt=1, objects=ctx.staged)
    assert store.get(part_prefix("job-a", "S|2026-04") + "detail.parquet") == b"detail"
    assert load_part(store, "job-a", "S|2026-04") == {"v": 4}


def test_site_month_planning():
    inv = [("B", "2026-02"), ("A", "2026-01"), ("A", "2026-03"), ("A", "2025-12"), ("B", "2026-01")]
    assert select_site_months(inv, from_period="2026-01", to_period="2026-03") == [
        ("A", "2026-01"), ("A", "2026-03"), ("B", "2026-01"), ("B", "2026-02")]
    with pytest.raises(InputError, match="'C'"):
        select_site_months(inv, from_period="2026-01", to_period="2026-03", sites=["A", "C"])
    singles = plan_site_months(inv, from_period="2026-01", to_period="2026-03")
    assert [p.key for p in singles] == ["A|2026-01", "A|2026-03", "B|2026-01", "B|2026-02"]
    groups = plan_site_months(inv, from_period="2026-01", to_period="2026-03", size=3,
                              params=lambda s, m: {"v": 7})
    assert [(p.key, p.weight) for p in groups] == [("A|2026-01..B|2026-01", 3), ("B|2026-02", 1)]
    assert groups[0].params["items"][1] == {"key": "A|2026-03",
                                            "params": {"site_id": "A", "month": "2026-03", "v": 7}}


def test_probe_kind_in_process(local_storage):
    store = ObjectStore.from_config(local_storage)
    spec = probe.ProbeSpec(items=5, fail_item="item-000003")
    parts = probe.plan(spec, JobContext(store=store, job_id="job-p", now_utc=NOW, partition_size=2))
    assert [p.key for p in parts] == ["item-000000..item-000001", "item-000002..item-000003",
                                      "item-000004"]
    wctx = WorkerContext(store=store, job_id="job-p", attempt=1)
    first = probe.run_partition(parts[0], wctx)
    with pytest.raises(DataMissingError, match="item-000003"):
        probe.run_partition(parts[1], wctx)
    cancelled = WorkerContext(store=store, job_id="job-p", attempt=1, is_cancelled=lambda: True)
    with pytest.raises(JobCancelledError):
        probe.run_partition(parts[2], cancelled)
    out = probe.reduce(spec, {parts[0].key: first}, JobContext(store=store, job_id="job-p", now_utc=NOW))
    assert out["items"] == 2
    assert int(out["total"]) == probe.item_value(0, "item-000000") + probe.item_value(0, "item-000001")
