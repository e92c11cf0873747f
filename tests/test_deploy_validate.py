"""The deployment files, validated without a cloud: linters, schemas, and the facts they share.

- cfn-lint on the CloudFormation templates (ECS and EKS renderings); checkov, run once over
  the templates, the rendered Kubernetes overlays and the Dockerfile (its own environment,
  made by `make checkov`: its pins conflict with ours); no failed check.
- Every rendered Kubernetes resource validates against the Kubernetes 1.33 JSON schemas
  (kubernetes-validate ships them: offline), strictly (unknown fields are errors).
- The committed renderings are what the sources render (`python -m deploy check`); the Python
  kustomize subset agrees with `kubectl kustomize` where kubectl is installed.
- Sizes come from docs/router.md's memory bound (read back out of the document), the
  termination grace period covers the WAL drain, and every command the Dockerfile and the
  manifests name is one the real `starbase` command line accepts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy import cloudformation, kustomize, settings
from deploy.__main__ import KUBERNETES_DIR, committed
from starbase.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
CHECKOV = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"
KUBERNETES_VERSION = "1.33.0"
OIDC = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def rendered_overlays() -> dict[str, list[dict[str, Any]]]:
    return {o.name: kustomize.render(o) for o in kustomize.overlays(KUBERNETES_DIR)}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every deployable file, freshly rendered, in one folder (aws/, kubernetes/, Dockerfile)."""
    folder = tmp_path_factory.mktemp("rendered")
    (folder / "aws").mkdir()
    for platform, extra in (("ecs", {}), ("eks", {"eks_oidc_provider": OIDC})):
        options = cloudformation.Options(
            log_groups=("/aws/lambda/checkout", "/aws/lambda/payments"),
            platform=platform,
            **extra,
        )
        for name, template in (
            ("data", cloudformation.data_stack(options)),
            ("services", cloudformation.services_stack(options)),
        ):
            (folder / "aws" / f"{platform}-{name}.yaml").write_text(
                cloudformation.to_yaml(template)
            )
    (folder / "kubernetes").mkdir()
    for name, resources in rendered_overlays().items():
        (folder / "kubernetes" / f"{name}.yaml").write_text(kustomize.to_yaml(resources))
    (folder / "docker").mkdir()
    shutil.copy(ROOT / "Dockerfile", folder / "docker" / "Dockerfile")
    return folder


def test_cfn_lint_passes(rendered: Path) -> None:
    templates = sorted(str(p) for p in (rendered / "aws").glob("*.yaml"))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), *templates],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_checkov_passes(rendered: Path) -> None:
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed: run `make checkov` (it makes {CHECKOV})")
    command = [str(CHECKOV), "--quiet", "--compact", "--skip-download", "-o", "json"]
    command += ["--framework", "cloudformation", "kubernetes", "dockerfile"]
    command += ["-d", str(rendered)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    seen = {r["check_type"]: r["summary"] for r in reports}
    assert set(seen) == {"cloudformation", "kubernetes", "dockerfile"}, done.stderr[-2000:]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for r in reports
        for c in r["results"].get("failed_checks", [])
    ]
    assert not failed, failed
    assert all(s["passed"] > 10 for s in seen.values()), seen


def test_kubernetes_resources_match_the_api_schemas() -> None:
    for name, resources in rendered_overlays().items():
        kinds = {r["kind"] for r in resources}
        assert {"StatefulSet", "Deployment", "PodDisruptionBudget", "ConfigMap"} <= kinds, name
        for resource in resources:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_schema_validation_refuses_a_misspelt_field() -> None:
    [router] = [r for r in rendered_overlays()["aws"] if r["kind"] == "StatefulSet"]
    router["spec"]["template"]["spec"]["terminationGracePeriod"] = 120  # no "Seconds"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(router, KUBERNETES_VERSION, strict=True)


def test_committed_renderings_are_current() -> None:
    stale = [str(p) for p, text in committed().items() if not p.exists() or p.read_text() != text]
    assert not stale, f"re-render (python -m deploy check says how): {stale}"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here")
def test_the_renderer_agrees_with_kubectl_kustomize() -> None:
    for name, mine in rendered_overlays().items():
        done = subprocess.run(
            ["kubectl", "kustomize", str(KUBERNETES_DIR / "overlays" / name)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        theirs = [r for r in yaml.safe_load_all(done.stdout) if r]

        def key(r: dict[str, Any]) -> tuple[str, str]:
            return r["kind"], r["metadata"]["name"]

        assert {key(r): r for r in mine} == {key(r): r for r in theirs}, name


def test_renderer_refuses_what_it_cannot_reproduce(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(kustomize.KustomizeError, match="commonLabels"):
        kustomize.load(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "configMapGenerator:\n  - name: x\n    literals: [a=b]\n"
    )
    with pytest.raises(kustomize.KustomizeError, match="disableNameSuffixHash"):
        kustomize.render(kustomize.load(tmp_path))
    with pytest.raises(kustomize.KustomizeError, match=r"\$patch"):
        kustomize.strategic_merge({"a": [1]}, {"$patch": "replace"})


def test_strategic_merge_follows_the_merge_keys() -> None:
    base = {
        "containers": [
            {"name": "a", "env": [{"name": "X", "value": "1"}], "args": ["x", "y"]},
            {"name": "b", "image": "b"},
        ]
    }
    patch = {
        "containers": [
            {"name": "a", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "3"}],
             "args": ["z"]},
        ]
    }  # fmt: skip
    merged = kustomize.strategic_merge(base, patch)
    a, b = merged["containers"]
    assert a["env"] == [{"name": "Y", "value": "2"}, {"name": "X", "value": "3"}]
    assert a["args"] == ["z"]  # lists of scalars are replaced
    assert b == {"name": "b", "image": "b"}


# ------------------------------------------------------------------ sizing and shutdown


def test_memory_bound_is_the_one_docs_router_md_states() -> None:
    text = (ROOT / "docs" / "router.md").read_text()
    block = text[text.index("**Memory bound.**") :][:1500]
    found = re.search(
        r"about\s+(\d+) MB.*?\+ (\d+(?:\.\d+)?) × flush-bytes.*?\+ (\d+(?:\.\d+)?) × bodies in "
        r"flight.*?plus ≈ (\d+) MB for the supervisor",
        block,
        re.DOTALL,
    )
    assert found, "docs/router.md's memory bound changed shape: re-derive deploy/settings.py"
    stated = tuple(float(g) for g in found.groups())
    bound = settings.MEMORY_BOUND
    assert stated == (bound.base_mb, bound.flush_factor, bound.inflight_factor, bound.supervisor_mb)


def _router(resources: list[dict[str, Any]]) -> dict[str, Any]:
    [router] = [r for r in resources if r["kind"] == "StatefulSet"]
    return router


def _flag(args: list[str], name: str, default: str) -> str:
    return args[args.index(name) + 1] if name in args else default


def _size(text: str) -> int:
    from starbase.router.cli import size

    return size(text, "size")


def test_router_requests_follow_the_memory_bound_and_wal_limit() -> None:
    for name, resources in rendered_overlays().items():
        router = _router(resources)
        pod = router["spec"]["template"]["spec"]
        [container] = [c for c in pod["containers"] if c["name"] == "router"]
        args = container["args"]
        workers = int(_flag(args, "--workers", "0"))
        flush = _size(_flag(args, "--flush-bytes", "32MiB"))
        inflight = _size(_flag(args, "--max-inflight", "64MiB"))
        memory = settings.router_memory_mib(workers, flush, inflight)
        resources_ = container["resources"]
        assert resources_["requests"]["memory"] == f"{memory}Mi", name
        assert resources_["limits"]["memory"] == f"{memory}Mi", name
        assert resources_["requests"]["cpu"] == str(workers), name
        wal = settings.wal_disk_gib(workers, _size(_flag(args, "--max-wal", "2GiB")))
        [claim] = router["spec"]["volumeClaimTemplates"]
        storage = int(claim["spec"]["resources"]["requests"]["storage"].removesuffix("Gi"))
        assert storage > wal, name  # the WAL's limit plus room for the lock files


def test_termination_grace_covers_the_wal_drain() -> None:
    assert settings.drain_seconds() < settings.SHUTDOWN_TIMEOUT_S < settings.TERMINATION_GRACE_S
    for name, resources in rendered_overlays().items():
        pod = _router(resources)["spec"]["template"]["spec"]
        [container] = [c for c in pod["containers"] if c["name"] == "router"]
        timeout = float(_flag(container["args"], "--shutdown-timeout", "30"))
        assert timeout == settings.SHUTDOWN_TIMEOUT_S, name
        assert pod["terminationGracePeriodSeconds"] >= timeout + 20, name
        assert container["readinessProbe"]["httpGet"]["path"] == settings.ROUTER_READINESS
        assert container["livenessProbe"]["httpGet"]["path"] == settings.ROUTER_LIVENESS
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert settings.DATA_DIR in mounts and _flag(container["args"], "--data", "") == "/data"


# ------------------------------------------------------------------ entry points


def _commands_in_manifests() -> list[list[str]]:
    from test_deploy_aws import shell_commands

    found = []
    for resources in rendered_overlays().values():
        for resource in resources:
            path = kustomize.POD_SPEC_PATHS.get(resource["kind"])
            if path is None:
                continue
            pod: Any = resource
            for step in path:
                pod = pod[step]
            for container in pod["containers"]:
                if container.get("command") == ["sh", "-c"]:
                    found += shell_commands(container["args"][0])
                else:
                    found.append(list(container["args"]))
    return found


def _commands_in_dockerfile() -> list[list[str]]:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["starbase"\]$', text, re.MULTILINE)
    assert re.search(r"^USER 10001", text, re.MULTILINE)  # not root
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert all(":" in f and not f.endswith(":latest") for f in froms if f not in ("starbase",))
    return [json.loads(c) for c in re.findall(r"^CMD (\[.*\])$", text, re.MULTILINE)]


def test_every_named_command_is_one_starbase_accepts() -> None:
    parser = _parser()
    known = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    argvs = _commands_in_manifests() + _commands_in_dockerfile()
    assert {a[0] for a in argvs} >= {"router", "serve", "retention", "emit"}
    missing = sorted({a[0] for a in argvs} - known)
    for argv in argvs:
        if argv[0] in known:
            parser.parse_args(argv)
    if missing:
        pytest.xfail(f"not in this build's command line yet: {missing}")


def test_the_image_entry_point_runs() -> None:
    """The ENTRYPOINT is the `starbase` console script the package installs; it runs."""
    scripts = Path(sys.executable).parent
    for argv in (["router", "--help"],):
        done = subprocess.run(
            [str(scripts / "starbase"), *argv], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
