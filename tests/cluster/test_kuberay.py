"""deploy/kuberay: the manifests checked offline, as far as a cluster-less machine can.

* Against KubeRay's own CRD schemas (v1.7.0, ``tests/data/kuberay``, with their source
  and licence), with ``kubectl``'s strict field validation: a field the schema does not
  know is an error (the API server would otherwise drop it without a word, e.g. a
  misspelt ``rayStartParam``).
* The operator's admission rules the manifests touch (``ValidateRayClusterSpec`` in
  ``ray-operator/controllers/ray/utils/validation.go``), which a schema cannot express.
* The versions: ``spec.rayVersion`` is the Ray ``pyproject.toml`` pins, and every image
  is the one ``deploy/Dockerfile`` builds (tag ``<version>-ray<Ray>-py<Python>``) on
  ``rayproject/ray:<Ray>-py<Python>``.
* The wiring: settings the API can read, the token Secret KubeRay creates, volumes,
  claims, service account and ports that exist.
"""
from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMAS = ROOT / "tests" / "data" / "kuberay"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kuberay" / name).read_text()) if d]


def strict(schema):
    """``schema`` with unknown fields refused, as kubectl's strict field validation does
    for a structural CRD schema (except where it preserves unknown fields)."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft202012Validator]:
    schemas = {p.name: strict(json.loads(p.read_text())) for p in SCHEMAS.glob("*.schema.json")}
    # the RayJob schema refers to the RayCluster's spec by file name
    registry = Registry().with_resources((name, DRAFT202012.create_resource(s))
                                         for name, s in schemas.items())
    return {"RayCluster": Draft202012Validator(schemas["raycluster.v1.schema.json"], registry=registry),
            "RayJob": Draft202012Validator(schemas["rayjob.v1.schema.json"], registry=registry)}


@pytest.fixture(scope="module")
def cluster() -> dict:
    (doc,) = _docs("raycluster.yaml")
    return doc


@pytest.fixture(scope="module")
def support() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in _docs("m2c-api.yaml")}


def errors(validator: Draft202012Validator, doc: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))]


# -- the CRD schemas ---------------------------------------------------------------------

def test_raycluster_is_valid_against_kuberays_crd_schema(validators, cluster):
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert errors(validators["RayCluster"], cluster) == []


def test_rayjob_is_valid_against_kuberays_crd_schema(validators, cluster):
    (job,) = _docs("rayjob.yaml")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    assert errors(validators["RayJob"], job) == []
    # it runs on the RayCluster above
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    assert job["spec"]["entrypoint"].startswith("m2c settle --period ")


def test_the_schema_check_is_not_a_no_op(validators, cluster):
    def broken(edit) -> list[str]:
        doc = copy.deepcopy(cluster)
        edit(doc["spec"])
        return errors(validators["RayCluster"], doc)

    group = lambda s: s["workerGroupSpecs"][0]
    assert any("rayStartParam" in e for e in broken(
        lambda s: group(s).__setitem__("rayStartParam", group(s).pop("rayStartParams"))))
    assert broken(lambda s: group(s).__setitem__("maxReplicas", "8"))
    assert broken(lambda s: s["authOptions"].__setitem__("mode", "tokens"))
    assert broken(lambda s: group(s)["template"]["spec"]["containers"][0]["resources"]["limits"]
                  .__setitem__("memory", "16 GB"))          # not a Kubernetes quantity
    assert broken(lambda s: s.pop("headGroupSpec"))
    # rayClusterSpec in a RayJob is checked through the RayCluster schema ($ref)
    (job,) = _docs("rayjob.yaml")
    job = {**job, "spec": {**job["spec"], "rayClusterSpec": {"headGroupSpec": {"template": {}},
                                                             "rayVersio": "2.60.0"}}}
    assert any("rayVersio" in e for e in errors(validators["RayJob"], job))


# -- what the operator admits --------------------------------------------------------------

def test_the_operators_admission_rules_hold(cluster):
    spec = cluster["spec"]
    groups = [("Head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec["workerGroupSpecs"]]
    for name, group in groups:
        assert group["template"]["spec"]["containers"], name
        started = {k for k in ("num-cpus", "num-gpus", "memory", "resources") if group["rayStartParams"].get(k)}
        assert not (started and group.get("resources")), f"{name}: resources in both places"
        assert "labels" not in group["rayStartParams"], name
        assert all(isinstance(v, str) for v in group["rayStartParams"].values()), name
    names = [g["groupName"] for g in spec["workerGroupSpecs"]]
    assert len(set(names)) == len(names)
    for g in spec["workerGroupSpecs"]:
        assert 0 <= g["minReplicas"] <= g.get("replicas", g["minReplicas"]) <= g["maxReplicas"]
    assert spec["authOptions"]["mode"] == "token"
    assert tuple(map(int, spec["rayVersion"].split("."))) >= (2, 52, 0)     # token auth
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] >= 0


def test_the_head_offers_no_cpu_and_workers_do(cluster):
    spec = cluster["spec"]
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    for g in spec["workerGroupSpecs"]:
        ray = g["template"]["spec"]["containers"][0]
        assert "num-cpus" not in g["rayStartParams"]               # Ray takes the CPU limit
        assert int(ray["resources"]["limits"]["cpu"]) >= 1


# -- versions ---------------------------------------------------------------------------

def _pinned_ray() -> str:
    (pin,) = [d for d in PYPROJECT["project"]["dependencies"] if re.match(r"ray(\[.*\])?==", d)]
    return pin.partition("==")[2]


def _images(doc: dict) -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "image" and isinstance(v, str):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)
    return found


def test_ray_versions_and_image_tags_match_the_pinned_ray(cluster):
    ray = _pinned_ray()
    assert cluster["spec"]["rayVersion"] == ray
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM rayproject/ray:(\S+)$", dockerfile, re.M)
    assert base.startswith(f"{ray}-py")
    python = base.removeprefix(f"{ray}-")                         # e.g. py311
    tag = f"{PYPROJECT['project']['version']}-ray{ray}-{python}"
    assert f"-t meter2cash:{tag} " in dockerfile
    assert f"ray.__version__ != '{ray}'" in dockerfile
    images = _images(cluster)
    assert len(images) == 3 and set(images) == {f"meter2cash:{tag}"}
    # the image's Python satisfies the package's
    assert PYPROJECT["project"]["requires-python"] == ">=3.11" and python >= "py311"


# -- wiring -----------------------------------------------------------------------------

def test_the_api_sidecar_is_wired_to_the_head(cluster, support):
    from api.settings import Settings
    name = cluster["metadata"]["name"]
    pod = cluster["spec"]["headGroupSpec"]["template"]["spec"]
    ray, api = pod["containers"]
    assert ray["name"] == "ray-head"                          # KubeRay: the Ray container first
    env = {e["name"]: e for e in api["env"]}
    assert env["RAY_ADDRESS"]["value"] == "127.0.0.1:6379"
    assert env["RAY_AUTH_MODE"]["value"] == "token"
    # the Secret KubeRay makes for authOptions.mode token: named after the cluster
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": name, "key": "auth_token"}
    assert api["command"][:2] == ["m2c", "serve"]
    # the driver sees the head's session folder; both see the catalog volume
    mounts = {c["name"]: {m["name"]: m["mountPath"] for m in c["volumeMounts"]} for c in (ray, api)}
    assert mounts["ray-head"]["ray-tmp"] == mounts["m2c-api"]["ray-tmp"] == "/tmp/ray"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert {n for m in mounts.values() for n in m} <= volumes.keys()
    claim = volumes["m2c-home"]["persistentVolumeClaim"]["claimName"]
    assert ("PersistentVolumeClaim", claim) in support
    # settings: every container reads the same ConfigMap, which the API can parse
    config = support[("ConfigMap", "m2c-settings")]["data"]
    for container in _containers(cluster):
        assert {"configMapRef": {"name": "m2c-settings"}} in container["envFrom"]
    settings = Settings.from_env(config)
    assert settings.storage_uri.startswith("s3://") and settings.workers and settings.worker_wait_s
    assert settings.db_url == f"sqlite:///{mounts['m2c-api']['m2c-home']}/m2c.db"
    assert Path(config["M2C_HOME"]) == Path(mounts["m2c-api"]["m2c-home"])
    # identity and the API's service
    for pod_spec in [pod] + [g["template"]["spec"] for g in cluster["spec"]["workerGroupSpecs"]]:
        assert ("ServiceAccount", pod_spec["serviceAccountName"]) in support
    service = support[("Service", "meter2cash-api")]["spec"]
    assert service["selector"] == {"ray.io/cluster": name, "ray.io/node-type": "head"}
    assert service["ports"][0]["targetPort"] in {p["name"] for p in api["ports"]}


def _containers(cluster: dict) -> list[dict]:
    spec = cluster["spec"]
    pods = [spec["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in spec["workerGroupSpecs"]]
    return [c for p in pods for c in p["containers"]]
