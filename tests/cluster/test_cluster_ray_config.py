"""ray_config.yaml is a valid cluster-launcher config, checked offline with Ray's own
schema and cross-checks (engineering notes §2), plus what Ray does not check."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

import ray.autoscaler
from ray.autoscaler._private.util import prepare_config, validate_config

CONFIG = Path(__file__).resolve().parents[2] / "ray_config.yaml"
SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


@pytest.fixture(scope="module")
def cfg() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_validates_with_rays_schema(cfg):
    validate_config(prepare_config(copy.deepcopy(cfg)))


def test_validator_is_not_a_no_op(cfg):
    bad = copy.deepcopy(cfg)
    bad["max_wrokers"] = bad.pop("max_workers")
    with pytest.raises(Exception, match="max_wrokers"):
        validate_config(prepare_config(bad))
    bad = copy.deepcopy(cfg)
    bad["available_node_types"]["cpu_worker"]["resources"] = {"CPU": 2.5}
    with pytest.raises(Exception):
        validate_config(prepare_config(bad))


def test_provider_keys_are_known(cfg):
    # Ray's schema does not catch typos inside `provider:` (e.g. `regoin`)
    known = set(SCHEMA["properties"]["provider"]["properties"])
    assert set(cfg["provider"]) <= known, set(cfg["provider"]) - known
    assert cfg["provider"]["type"] in ("aws", "gcp", "azure", "local", "vsphere", "aliyun")


def test_cluster_shape(cfg):
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert head["resources"] == {"CPU": 0}          # no partitions on the control plane
    workers = [t for name, t in types.items() if name != cfg["head_node_type"]]
    assert sum(t.get("min_workers", 0) for t in workers) <= cfg["max_workers"]
    assert any("pip install" in c and "/home/ubuntu/meter2cash" in c for c in cfg["setup_commands"])
    assert "/home/ubuntu/meter2cash" in cfg["file_mounts"]
    assert any("m2c serve" in c for c in cfg["head_start_ray_commands"])
    assert any("--address=$RAY_HEAD_IP:6379" in c for c in cfg["worker_start_ray_commands"])
