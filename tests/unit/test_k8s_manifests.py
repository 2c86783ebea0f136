"""The Kubernetes manifests (deploy/k8s): every overlay renders, every resource validates against
pinned schemas, and the scaling, probe, budget and network rules the deployment relies on hold.

Rendering: no kustomize or kubectl binary installs from a package registry, so
tests/harness/kustomize.py renders each overlay in Python (the Kustomize subset deploy/k8s uses;
it refuses any other field). Validation: `kubernetes-validate` (PyPI) with the Kubernetes
schemas it ships, pinned to one version in strict mode; KEDA's ScaledObject (a CRD, not in those
schemas) against the subset of KEDA's CRD schema below.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from heirloom.config import Settings
from heirloom.domain.task_queues import GPU_TASK_QUEUE, OPS_TASK_QUEUE, tier_task_queue
from heirloom.domain.tiers import Tier
from tests.harness.kustomize import Resource, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(path for path in (K8S / "overlays").iterdir() if path.is_dir())
# The Kubernetes release whose API schemas the manifests must satisfy (the oldest we support).
KUBERNETES_VERSION = "1.33.0"

# KEDA 2.17's ScaledObject CRD, the fields Heirloom sets, with the Temporal scaler's metadata.
SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                    },
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "temporal"},
                            "metadata": {
                                "type": "object",
                                "required": ["endpoint", "namespace", "taskQueue"],
                                "additionalProperties": {"type": "string"},
                                "properties": {
                                    "queueTypes": {
                                        "pattern": "^(workflow|activity)(,(workflow|activity))?$"
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def _rendered(overlay: Path) -> list[Resource]:
    resources = render(overlay)
    assert resources, f"{overlay.name} renders nothing"
    return resources


def _of_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def _containers(resource: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    spec = resource["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def _polled_queues(deployment: Mapping[str, Any]) -> set[str]:
    """The task queues a worker Deployment's `heirloom worker` command polls."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[0] == "worker"
    tiers = args[args.index("--tiers") + 1]
    queues = {OPS_TASK_QUEUE}
    if tiers != "none":
        queues |= {tier_task_queue(tier) for tier in tiers.split(",")}
    if int(args[args.index("--gpu-slots") + 1]) > 0:
        queues.add(GPU_TASK_QUEUE)
    return queues


def test_there_are_overlays_to_deploy() -> None:
    assert {path.name for path in OVERLAYS} >= {"staging", "production"}


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_manifest_validates_against_pinned_schemas(overlay: Path) -> None:
    errors = []
    for resource in _rendered(overlay):
        name = f"{resource['kind']}/{resource['metadata']['name']}"
        if resource["kind"] == "ScaledObject":
            validator = jsonschema.Draft7Validator(SCALED_OBJECT_SCHEMA)
            errors += [
                f"{name}: {e.json_path}: {e.message}" for e in validator.iter_errors(resource)
            ]
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors.append(f"{name}: {err.message}")
        assert resource["metadata"].get("namespace"), f"{name}: the overlay sets no namespace"
    assert errors == []


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_keda_scales_a_worker_on_every_task_queue(overlay: Path) -> None:
    resources = _rendered(overlay)
    deployments = _of_kind(resources, "Deployment")
    workers = {
        name: d for name, d in deployments.items() if next(_containers(d))["args"][0] == "worker"
    }
    scaled = _of_kind(resources, "ScaledObject")
    targets = {so["spec"]["scaleTargetRef"]["name"]: so for so in scaled.values()}
    assert set(targets) == set(workers), (
        "every worker Deployment, and only those, has a ScaledObject"
    )
    every_queue = {tier_task_queue(t.value) for t in Tier} | {GPU_TASK_QUEUE, OPS_TASK_QUEUE}
    followed: set[str] = set()
    settings = _of_kind(resources, "ConfigMap")["heirloom-settings"]["data"]
    for name, scaled_object in targets.items():
        spec = scaled_object["spec"]
        assert spec.get("minReplicaCount") == 1, f"{name}: min 1, so every queue is polled"
        queues = {t["metadata"]["taskQueue"] for t in spec["triggers"]}
        assert queues <= _polled_queues(workers[name]), f"{name} scales on queues it never polls"
        for trigger in spec["triggers"]:
            assert trigger["metadata"]["endpoint"] == settings["HEIRLOOM_TEMPORAL_ADDRESS"]
            assert trigger["metadata"]["namespace"] == settings["HEIRLOOM_TEMPORAL_NAMESPACE"]
        followed |= queues
    assert followed == every_queue


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_gpu_pods_at_most_fill_the_gpu_pool(overlay: Path) -> None:
    # More slots than RunPod workers would queue jobs at RunPod, outside the priority order.
    resources = _rendered(overlay)
    pool = int(
        _of_kind(resources, "ConfigMap")["heirloom-settings"]["data"]["HEIRLOOM_GPU_POOL_SIZE"]
    )
    slots = 0
    scaled = {
        so["spec"]["scaleTargetRef"]["name"]: so["spec"]
        for so in _of_kind(resources, "ScaledObject").values()
    }
    for name, deployment in _of_kind(resources, "Deployment").items():
        args = next(_containers(deployment))["args"]
        if args[0] == "worker" and "--gpu-slots" in args:
            slots += int(args[args.index("--gpu-slots") + 1]) * scaled[name]["maxReplicaCount"]
    assert slots == pool


def _autoscaled_max(resources: list[Resource], deployment: str) -> int:
    most = 0
    for hpa in _of_kind(resources, "HorizontalPodAutoscaler").values():
        if hpa["spec"]["scaleTargetRef"]["name"] == deployment:
            most = max(most, hpa["spec"]["maxReplicas"])
    for so in _of_kind(resources, "ScaledObject").values():
        if so["spec"]["scaleTargetRef"]["name"] == deployment:
            most = max(most, so["spec"].get("maxReplicaCount", 100))
    return most


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_deployment_has_requests_limits_probes_and_a_budget_when_replicated(
    overlay: Path,
) -> None:
    resources = _rendered(overlay)
    budgets = [
        pdb["spec"]["selector"]["matchLabels"]
        for pdb in _of_kind(resources, "PodDisruptionBudget").values()
    ]
    missing = []
    for name, deployment in _of_kind(resources, "Deployment").items():
        for container in _containers(deployment):
            for bound in ("requests", "limits"):
                if set(container.get("resources", {}).get(bound, {})) < {"cpu", "memory"}:
                    missing.append(f"{name}/{container['name']}: cpu and memory {bound}")
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in container:
                    missing.append(f"{name}/{container['name']}: {probe}")
        replicas = max(deployment["spec"].get("replicas", 1), _autoscaled_max(resources, name))
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covered = any(all(labels.get(k) == v for k, v in b.items()) for b in budgets)
        if replicas > 1 and not covered:
            missing.append(f"{name}: up to {replicas} replicas and no PodDisruptionBudget")
        strategy = deployment["spec"].get("strategy", {})
        if strategy.get("rollingUpdate", {}).get("maxUnavailable") != 0:
            missing.append(f"{name}: a rolling update may take a ready pod away first")
    for name, job in _of_kind(resources, "Job").items():
        for container in _containers(job):
            if set(container.get("resources", {}).get("limits", {})) < {"cpu", "memory"}:
                missing.append(f"{name}/{container['name']}: cpu and memory limits")
    assert missing == []


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_workers_are_given_longer_than_their_graceful_shutdown(overlay: Path) -> None:
    resources = _rendered(overlay)
    shutdown = float(
        _of_kind(resources, "ConfigMap")["heirloom-settings"]["data"][
            "HEIRLOOM_WORKER_GRACEFUL_SHUTDOWN_S"
        ]
    )
    for name, deployment in _of_kind(resources, "Deployment").items():
        if next(_containers(deployment))["args"][0] == "worker":
            grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            assert grace > shutdown, name


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_migrations_run_as_a_job_with_the_image_the_deployments_run(overlay: Path) -> None:
    resources = _rendered(overlay)
    (job,) = _of_kind(resources, "Job").values()
    (migrate,) = _containers(job)
    assert migrate["args"] == ["migrate"]
    images = {
        c["image"] for d in _of_kind(resources, "Deployment").values() for c in _containers(d)
    }
    assert images == {migrate["image"]}
    assert not migrate["image"].endswith(":local"), "the overlay names the pushed image"


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_only_the_api_takes_connections_from_outside(overlay: Path) -> None:
    resources = _rendered(overlay)
    policies = _of_kind(resources, "NetworkPolicy")
    deny = [
        p
        for p in policies.values()
        if p["spec"]["podSelector"] == {}
        and p["spec"]["policyTypes"] == ["Ingress"]
        and not p["spec"].get("ingress")
    ]
    assert deny, "no default-deny ingress policy"
    api_labels = _of_kind(resources, "Deployment")["heirloom-api"]["spec"]["template"]["metadata"][
        "labels"
    ]
    for name, policy in policies.items():
        for rule in policy["spec"].get("ingress", []):
            sources = {
                peer.get("namespaceSelector", {})
                .get("matchLabels", {})
                .get("kubernetes.io/metadata.name")
                for peer in rule.get("from", [])
            }
            assert None not in sources, f"{name}: a rule open to any source"
            if sources != {"monitoring"}:
                selector = policy["spec"]["podSelector"].get("matchLabels", {})
                assert selector, f"{name}: an outside source reaches every pod"
                assert all(api_labels.get(k) == v for k, v in selector.items()), name
    (ingress,) = _of_kind(resources, "Ingress").values()
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"heirloom-api"}


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_settings_config_map_holds_only_settings_fields(overlay: Path) -> None:
    data = _of_kind(_rendered(overlay), "ConfigMap")["heirloom-settings"]["data"]
    fields = set(Settings.model_fields)
    unknown = {k for k in data if k.removeprefix("HEIRLOOM_").lower() not in fields}
    assert unknown == set()
    assert not any(word in k for k in data for word in ("PASSWORD", "SECRET", "API_KEY")), data
    Settings.model_validate({k.removeprefix("HEIRLOOM_").lower(): v for k, v in data.items()})


def test_secret_keys_are_settings_fields_or_aws_credentials() -> None:
    lines = (K8S / "base" / "secrets.env.example").read_text().splitlines()
    keys = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    assert all(line.endswith("=") for line in lines if line and not line.startswith("#"))
    fields = set(Settings.model_fields)
    assert {
        k
        for k in keys
        if k.removeprefix("HEIRLOOM_").lower() not in fields and not k.startswith("AWS_")
    } == set()


def test_temporal_helm_values_size_the_shards_and_use_sql_visibility() -> None:
    values = yaml.safe_load((K8S / "temporal" / "values.yaml").read_text())
    config = values["server"]["config"]
    assert config["numHistoryShards"] >= 512
    persistence = config["persistence"]
    assert persistence["visibility"]["sql"]["driver"] == "postgres12"
    compose_dynamic = yaml.safe_load(
        (ROOT / "deploy" / "temporal" / "dynamicconfig.yaml").read_text()
    )
    assert values["server"]["dynamicConfig"] == compose_dynamic
