"""deploy/k8s: every manifest parses, and the pieces refer to each other correctly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

Doc = dict[str, Any]
SERVICES = {  # Deployment -> (image service, port)
    "codelab-auth": ("auth", 8081),
    "codelab-gateway": ("gateway", 8082),
    "codelab-runtime": ("runtime", 8083),
    "codelab-llm-proxy": ("llm-proxy", 8084),
}


@pytest.fixture(scope="module")
def k8s(root: Path) -> Path:
    return root / "deploy/k8s"


@pytest.fixture(scope="module")
def kustomization(k8s: Path) -> Doc:
    data: Doc = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    return data


@pytest.fixture(scope="module")
def docs(k8s: Path, kustomization: Doc) -> list[Doc]:
    return [
        doc
        for name in kustomization["resources"]
        for doc in yaml.safe_load_all((k8s / name).read_text())
        if doc
    ]


def _by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _pod_specs(docs: list[Doc]) -> dict[str, Doc]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    }


def test_kustomization_lists_every_manifest_but_the_secret_template(
    k8s: Path, kustomization: Doc
) -> None:
    on_disk = {p.name for p in k8s.glob("*.yaml")} - {"kustomization.yaml", "models.yaml"}
    assert set(kustomization["resources"]) == on_disk - {"secret.example.yaml"}
    for generator in kustomization["configMapGenerator"]:
        for name in generator["files"]:
            assert (k8s / name).is_file()


def test_expected_kinds(docs: list[Doc]) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    expected = {
        ("Namespace", "codelab"),
        ("ConfigMap", "codelab-config"),
        ("Job", "codelab-auth-init"),
        ("Deployment", "codelab-nginx"),
        ("Service", "codelab-nginx"),
        ("Ingress", "codelab"),
        ("PodDisruptionBudget", "codelab-gateway"),
        ("PodDisruptionBudget", "codelab-runtime"),
        ("HorizontalPodAutoscaler", "codelab-gateway"),
    }
    expected |= {(kind, name) for name in SERVICES for kind in ("Deployment", "Service")}
    assert expected <= kinds


def test_replicas(docs: list[Doc]) -> None:
    deployments = _by_kind(docs, "Deployment")
    assert deployments["codelab-gateway"]["spec"]["replicas"] == 2
    assert deployments["codelab-runtime"]["spec"]["replicas"] == 2
    hpa = _by_kind(docs, "HorizontalPodAutoscaler")["codelab-gateway"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "codelab-gateway",
    }
    assert hpa["minReplicas"] >= 2


@pytest.mark.parametrize("name", [*SERVICES, "codelab-nginx"])
def test_service_ports_and_selectors_match_the_deployment(docs: list[Doc], name: str) -> None:
    deployment = _by_kind(docs, "Deployment")[name]
    service = _by_kind(docs, "Service")[name]
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    assert service["spec"]["selector"].items() <= template_labels.items()
    container_ports = {
        p.get("name", p["containerPort"]): p["containerPort"]
        for c in deployment["spec"]["template"]["spec"]["containers"]
        for p in c.get("ports", [])
    }
    for port in service["spec"]["ports"]:
        target = port["targetPort"]
        resolved = container_ports.get(target) if isinstance(target, str) else target
        assert resolved in container_ports.values(), f"{name}: {target} is no container port"
        assert port["port"] == resolved
    if name in SERVICES:
        assert list(container_ports.values()) == [SERVICES[name][1]]


@pytest.mark.parametrize("name", SERVICES)
def test_probes_resources_and_security(docs: list[Doc], name: str) -> None:
    pod = _by_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["resources"]["limits"]["memory"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]


def test_images_are_parameterised(docs: list[Doc], kustomization: Doc) -> None:
    declared = {image["name"]: image for image in kustomization["images"]}
    pods = _pod_specs(docs)
    for name, pod in pods.items():
        for container in pod["containers"]:
            image = container["image"]
            assert ":" not in image, f"{name}: tag {image} belongs in kustomization images"
            assert image in declared, f"{name}: {image} is not set in kustomization images"
    for deployment, (service, _) in SERVICES.items():
        assert pods[deployment]["containers"][0]["image"] == f"codelab/{service}"
    assert pods["codelab-auth-init"]["containers"][0]["image"] == "codelab/auth"


def test_auth_init_job_runs_the_image_script(docs: list[Doc], root: Path) -> None:
    job = _by_kind(docs, "Job")["codelab-auth-init"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["codelab-auth-init"]
    assert (root / "deploy/docker/codelab-auth-init").is_file()
    env = {e["name"] for e in container["env"]}
    assert {"CODELAB_AUTH_DATABASE_URL", "CODELAB_RUNTIME_CLIENT_SECRET"} <= env


def test_references_resolve(docs: list[Doc], kustomization: Doc, k8s: Path) -> None:
    config_maps = set(_by_kind(docs, "ConfigMap")) | {
        g["name"] for g in kustomization["configMapGenerator"]
    }
    secret = yaml.safe_load((k8s / "secret.example.yaml").read_text())
    secret_keys = set(secret["stringData"])
    checked = 0
    for name, pod in _pod_specs(docs).items():
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, name
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, name
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    checked += 1
                    assert ref["name"] == secret["metadata"]["name"], name
                    assert ref["key"] in secret_keys, f"{name}: {ref['key']}"
    assert checked >= 8


def test_secret_template_holds_no_real_values(k8s: Path) -> None:
    secret = yaml.safe_load((k8s / "secret.example.yaml").read_text())
    for key, value in secret["stringData"].items():
        assert value == "" or "CHANGE_ME" in value, key


def test_config_keys_are_real_settings(
    docs: list[Doc], settings_env: dict[str, set[str]], env_prefixes: dict[str, str]
) -> None:
    names = set(_by_kind(docs, "ConfigMap")["codelab-config"]["data"])
    for pod in _pod_specs(docs).values():
        names |= {e["name"] for c in pod["containers"] for e in c.get("env", [])}
    owned = 0
    for name in names:
        owner = next((s for s, p in env_prefixes.items() if name.startswith(p)), None)
        if owner is not None:
            owned += 1
            assert name in settings_env[owner], f"{name} is not a setting of {owner}"
    assert owned >= 15


def test_issuer_is_the_same_everywhere_and_matches_the_ingress(docs: list[Doc]) -> None:
    data = _by_kind(docs, "ConfigMap")["codelab-config"]["data"]
    issuers = {v for k, v in data.items() if k.endswith("_ISSUER")}
    assert len(issuers) == 1
    (host,) = {r["host"] for r in _by_kind(docs, "Ingress")["codelab"]["spec"]["rules"]}
    assert issuers == {f"https://{host}/auth"}


@pytest.mark.parametrize("name", ["codelab-gateway", "codelab-runtime"])
def test_disruption_budgets_select_their_deployment(docs: list[Doc], name: str) -> None:
    pdb = _by_kind(docs, "PodDisruptionBudget")[name]
    labels = _by_kind(docs, "Deployment")[name]["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] == 1


def test_models_copy_matches_the_example(root: Path, k8s: Path) -> None:
    example = (root / "deploy/llm-proxy/models.example.yaml").read_text()
    assert (k8s / "models.yaml").read_text() == example, (
        "cp deploy/llm-proxy/models.example.yaml deploy/k8s/models.yaml"
    )


def test_schemas_with_kubernetes_validate(k8s: Path, kustomization: Doc) -> None:
    """Full OpenAPI-schema validation, when the optional validator is installed."""
    validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (optional)"
    )
    files = [*kustomization["resources"], "secret.example.yaml"]
    for name in files:
        for doc in yaml.safe_load_all((k8s / name).read_text()):
            validate.validate(doc, "1.31.0", strict=True)
