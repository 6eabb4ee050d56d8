"""`pip install graphops` from the wheel, in a fresh virtualenv: without the cli extra the command says in one
line how to get it (exit 2), never a traceback; with the extra it works."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphops.__main__ import MISSING_EXTRA

ROOT = Path(__file__).resolve().parents[2]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Outside the repository, so the checkout's graphops cannot stand in for the installed one.
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A fresh virtualenv with graphops' wheel and its dependencies, without the cli extra; and the wheel."""
    where = tmp_path_factory.mktemp("install")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(where / "dist"), str(ROOT)],
                where)  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (where / "dist").glob("graphops-*.whl")
    made = run([sys.executable, "-m", "venv", str(where / "venv")], where)
    assert made.returncode == 0, made.stderr[-2000:]
    venv = where / "venv"
    done = run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], where)
    assert done.returncode == 0, done.stderr[-2000:]
    yield venv, wheel


def test_the_command_names_its_extra_in_one_line_then_works_with_it(installed: tuple[Path, Path]) -> None:
    venv, wheel = installed
    python, command = str(venv / "bin" / "python"), str(venv / "bin" / "graphops")
    lacking = run([python, "-c", "import importlib.util as u; print(u.find_spec('click') is None)"], venv)
    assert lacking.stdout.strip() == "True"  # the extra really is missing here
    for argv in ([command, "--help"], [command, "track", "/v1.0/x"], [python, "-m", "graphops", "--help"]):
        without = run(argv, venv)
        assert (without.returncode, without.stdout, without.stderr) == (2, "", MISSING_EXTRA + "\n"), argv

    extra = run([str(venv / "bin" / "pip"), "install", "--quiet", f"graphops[cli] @ {wheel.as_uri()}"], venv)
    assert extra.returncode == 0, extra.stderr[-2000:]
    helped = run([command, "--help"], venv)
    assert helped.returncode == 0 and helped.stderr == "", helped.stderr[-2000:]
    assert "Usage: graphops" in helped.stdout and "track" in helped.stdout
