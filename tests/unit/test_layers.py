"""Imports go one way: the layers contract in pyproject.toml names every part of graphops, and it holds.

`make lint` runs import-linter over the package itself; these tests pin the contract: nothing new escapes it,
and a wrong-way import, put into a copy of the package, breaks it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["type"] == "layers"]
    return [str(layer) for layer in contract["layers"]]


def named_parts() -> set[str]:
    return {part.strip() for layer in layers() for part in layer.split("|")}


def test_every_package_and_top_level_module_of_graphops_is_in_a_layer() -> None:
    package = ROOT / "graphops"
    parts = {f"graphops.{p.stem}" for p in package.glob("*.py") if p.name != "__init__.py"}
    parts |= {f"graphops.{p.name}" for p in package.iterdir() if (p / "__init__.py").exists()}
    assert parts - named_parts() == set(), "a part of graphops no layer names: the contract would not check it"
    assert named_parts() - parts == set(), "a layer names what graphops does not have"


def test_each_package_says_what_it_is_for() -> None:
    for init in (ROOT / "graphops").glob("*/__init__.py"):
        text = init.read_text().lstrip()
        assert text.startswith('"""') and len(text.split('"""')[1].split()) >= 12, f"{init}: no docstring to speak of"


def run_contract(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree, capture_output=True, text=True, check=False,
        env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(tree)},
    )  # fmt: skip


@pytest.fixture
def copy_of_graphops(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "graphops", tmp_path / "graphops", ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contract_holds_for_graphops_as_it_is(copy_of_graphops: Path) -> None:
    done = run_contract(copy_of_graphops)
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.parametrize(
    ("module", "wrong_way"),
    [
        ("envelope/tracking.py", "from graphops.intake.request import from_request"),  # the wire below the intake
        ("graph/reader.py", "from graphops.step.decide import decide"),  # Graph's reader below the decisions
        ("storage/state.py", "from graphops.delivery.sink import Sink"),  # storage below delivery
        ("pacing/schedule.py", "from graphops.settings import Settings"),  # nothing reads settings from below
    ],
)
def test_a_wrong_way_import_breaks_the_contract(copy_of_graphops: Path, module: str, wrong_way: str) -> None:
    path = copy_of_graphops / "graphops" / module
    path.write_text(path.read_text() + f"\n\ndef _wrong_way() -> None:\n    {wrong_way}  # noqa\n")
    done = run_contract(copy_of_graphops)
    assert done.returncode != 0 and "BROKEN" in done.stdout.upper(), done.stdout[-3000:]
