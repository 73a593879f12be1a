"""Set-up on a fresh machine: `.ci/system-deps` and the Makefile targets that call it.

apt-get, id and sudo are faked on PATH (the outside world); nothing is installed or removed.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".ci" / "system-deps"


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A PATH folder whose apt-get records its arguments and installs nothing."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    apt = bin_ / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "apt.log"}\n')
    apt.chmod(0o755)
    return bin_


def outer_env() -> dict[str, str]:
    """This process's environment without the outer make's variables.

    Under `make test` MAKELEVEL and MAKEFLAGS are set, and a nested make would then print
    "Entering directory" lines and inherit the outer make's flags.
    """
    return {k: v for k, v in os.environ.items() if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}}


def run(args: list[str], bin_: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**outer_env(), "PATH": f"{bin_}:{os.environ['PATH']}", **env}
    return subprocess.run(args, cwd=REPO, env=full, capture_output=True, text=True, timeout=60)


def test_present_packages_are_checked_silently_without_apt(fake_bin: Path, tmp_path) -> None:
    res = run([str(SCRIPT), "test"], fake_bin)
    assert res.returncode == 0, res.stderr
    assert res.stdout == res.stderr == ""
    assert not (tmp_path / "apt.log").exists()


def test_missing_package_without_root_names_the_exact_command(fake_bin: Path, tmp_path) -> None:
    for name, body in (("id", "echo 1000"), ("sudo", "exit 1")):  # not root; sudo wants a password
        (fake_bin / name).write_text(f"#!/bin/sh\n{body}\n")
        (fake_bin / name).chmod(0o755)
    res = run([str(SCRIPT), "run"], fake_bin, YTOCC_SYSTEM_PACKAGES="ffmpeg ytocc-no-such-pkg")
    assert res.returncode == 1
    assert res.stderr.splitlines() == [
        "error: missing system packages: ytocc-no-such-pkg; "
        "run: sudo apt-get install -y ytocc-no-such-pkg"
    ]
    assert res.stdout == "" and not (tmp_path / "apt.log").exists()


def test_missing_package_as_root_is_installed_with_apt(fake_bin: Path, tmp_path) -> None:
    fake_id = fake_bin / "id"
    fake_id.write_text("#!/bin/sh\necho 0\n")
    fake_id.chmod(0o755)
    res = run([str(SCRIPT), "run"], fake_bin, YTOCC_SYSTEM_PACKAGES="ytocc-no-such-pkg")
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls == ["update -qq", "install -y -qq ytocc-no-such-pkg"]
    # the fake apt-get installed nothing: said so, not claimed done
    assert res.returncode == 1 and "did not install: ytocc-no-such-pkg" in res.stderr


def test_make_demo_stops_before_building_the_venv(fake_bin: Path, tmp_path) -> None:
    venv = tmp_path / "venv"
    res = run(
        ["make", "demo", f"VENV={venv}", "PY=/bin/false"],
        fake_bin,
        YTOCC_SYSTEM_PACKAGES="ytocc-no-such-pkg",
        YTOCC_SYSTEM_INSTALL="never",
    )
    assert res.returncode != 0
    assert "error: missing system packages: ytocc-no-such-pkg; run: " in res.stderr
    assert "apt-get install -y ytocc-no-such-pkg" in res.stderr
    assert not venv.exists()


def test_make_test_checks_the_test_packages_and_ci_calls_make_test() -> None:
    dry = subprocess.run(
        ["make", "-n", "test"], cwd=REPO, env=outer_env(), capture_output=True, text=True
    )
    lines = dry.stdout.splitlines()
    assert lines[0] == ".ci/system-deps test"
    assert "make test" in (REPO / ".ci" / "run").read_text().splitlines()


def test_every_target_builds_the_venv_on_first_use(tmp_path) -> None:
    venv = tmp_path / "fresh-venv"
    for target in ("demo", "test", "test-fast", "bench", "ui"):
        dry = subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=REPO, env=outer_env(),
                             capture_output=True, text=True)  # fmt: skip
        assert f"-m venv {venv}" in dry.stdout, (target, dry.stdout)


def test_exactly_one_opencv_is_installed_and_it_is_the_headless_one() -> None:
    from importlib.metadata import distributions

    names = {(d.metadata["Name"] or "").lower() for d in distributions()}
    assert {n for n in names if n.startswith("opencv")} == {"opencv-python-headless"}


# Imported only inside the adapters that need them, which say in one line what to install.
OPTIONAL_IMPORTS = {
    "detectron2": "models/segmenters/san.py: SAN needs detectron2, which is not on PyPI",
    "san": "models/segmenters/san.py: SAN's own repository, installed by hand",
    "prefect_dask": "flows/runners.py: run.task_runner=dask names `pip install prefect-dask`",
}
OWN_PACKAGES = {"flows", "tasks", "storage", "models", "tests", "bench", "notebooks"}


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party module → the repository files that import it (any depth)."""
    import ast
    import sys

    found: dict[str, set[str]] = {}
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0].startswith(".") or rel.parts[0] == "out":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(rel))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {n.split(".")[0] for n in names}:
                if top not in sys.stdlib_module_names and top not in OWN_PACKAGES | {"__future__"}:
                    found.setdefault(top, set()).add(str(rel))
    return found


def declared_distributions() -> set[str]:
    """Normalised names of what set-up installs: pyproject's dependencies and extras, and the
    Makefile's `--no-deps` installs (CI builds a fresh venv from exactly these)."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [
        r for v in project["optional-dependencies"].values() for r in v
    ]
    reqs += re.findall(r"--no-deps (\S+)", (REPO / "Makefile").read_text())
    return {
        re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0]).lower() for r in reqs
    }


def test_every_imported_module_comes_from_a_declared_requirement() -> None:
    """A module this venv happens to hold (installed by hand, or pulled in by another package)
    is missing from CI's fresh venv: `bench/mutate.py` imported libcst, which only a hand-installed
    mutmut had brought, and CI failed. Each import must come from a distribution set-up installs
    by name, not through another package's dependencies."""
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    declared = declared_distributions()
    undeclared = {}
    for module, files in imported_modules().items():
        if module in OPTIONAL_IMPORTS:
            continue
        providers = {re.sub(r"[-_.]+", "-", d).lower() for d in dists.get(module, [])}
        if not providers & declared:
            undeclared[module] = (sorted(providers), sorted(files)[:3])
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_optional_imports_are_still_optional() -> None:
    """The allow-list above names only modules still imported, each inside a function."""
    imported = imported_modules()
    for module, why in OPTIONAL_IMPORTS.items():
        source = why.split(":", 1)[0]
        assert source in imported.get(module, set()), (module, why)
        assert not re.search(rf"^(import|from) {module}\b", (REPO / source).read_text(), re.M)
