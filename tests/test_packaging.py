"""The library distribution: build the wheel from a copy of the sources, install it into a
fresh virtual environment and use it from outside the source tree.

The venv reuses the machine's torch/numpy/torchvision (``--system-site-packages``) and the
wheel goes in with ``--no-deps``: nothing is downloaded, and only the wheel can provide
``dropcore`` (the repository is not on the venv's path).
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SMOKE = r"""
import sys
import torch
import dropcore as dc
from dropcore.probe import probe, site_names

assert dc.__file__.startswith(sys.argv[1]), dc.__file__   # the installed copy, not the repo
x = torch.randn(2, 3, 14, 14)
assert dc.drop_block(x, 0.1, 7).shape == x.shape
assert dc.drop_block3d(torch.randn(1, 2, 4, 6, 6), 0.1, 3).shape == (1, 2, 4, 6, 6)
traced = torch.fx.symbolic_trace(torch.nn.Sequential(dc.DropBlock2d(0.1, 3)))
assert any(n.target is dc.drop_block for n in traced.graph.nodes)
import dropcore.recipe, dropcore.train  # every subpackage ships (train: torchvision extra)
try:
    import models
except ModuleNotFoundError:
    pass
else:
    raise AssertionError(f"the app's models package was installed: {models.__file__}")
print("smoke ok")
"""


def _source_packages() -> set[str]:
    """Every package under dropcore/ in the source tree, dotted."""
    return {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "dropcore").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy: an in-tree setuptools build would leave build/ and egg-info behind.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "dropcore", src / "dropcore", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("dropcore-*.whl")
    return built


def test_wheel_holds_every_dropcore_package_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"dropcore"}, top  # no generic top-level names such as `models`
    shipped = {".".join(Path(n).parent.parts) for n in names if n.endswith("/__init__.py")}
    shipped |= {"dropcore"} if "dropcore/__init__.py" in names else set()
    assert _source_packages() <= shipped, _source_packages() - shipped
    assert "dropcore/py.typed" in names  # type information for users' checkers


def test_wheel_metadata_keeps_torchvision_optional(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        (meta_name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(zf.read(meta_name))
    requires = meta.get_all("Requires-Dist") or []
    plain = [r for r in requires if "extra ==" not in r]
    names = {r.split(">")[0].split("<")[0].strip() for r in plain}
    assert names == {"torch", "numpy", "numba"}, plain
    assert any(r.startswith("torchvision") and 'extra == "train"' in r for r in requires)


def test_installed_wheel_works_outside_the_source_tree(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    # cwd outside the repository and no PYTHONPATH: only the installed wheel is importable.
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path)}
    done = subprocess.run(
        [str(python), "-c", SMOKE, site],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "smoke ok" in done.stdout
