"""What the deployment package holds: every file `azd deploy` takes, which is every file .funcignore does not
exclude (gitignore rules). A module the app imports but the package lacks fails only in Azure, on first use."""

from __future__ import annotations

import ast
import shutil
import site
import subprocess
import sys
import tomllib
from pathlib import Path

import pathspec

ROOT = Path(__file__).resolve().parents[2]


def packaged() -> set[Path]:
    """The repository's files that a deployment uploads, relative to its root."""
    ignore = pathspec.PathSpec.from_lines("gitignore", (ROOT / ".funcignore").read_text().splitlines())
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {Path(name) for name in tracked.splitlines() if not ignore.match_file(name)}


def module_of(path: Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_graphops_modules(path: Path, module: str) -> set[str]:
    """Every graphops module ``path`` imports, at its top or inside a function (relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from . import poison` names a module
    return {name for name in found if name == "graphops" or name.startswith("graphops.")}


def test_every_graphops_module_the_packaged_code_imports_is_in_the_package() -> None:
    files = packaged()
    modules = {module_of(p) for p in files if p.suffix == ".py"}
    every_module = {module_of(p.relative_to(ROOT)) for p in (ROOT / "graphops").rglob("*.py")}
    missing = {
        (str(path), name)
        for path in files
        if path.suffix == ".py"
        for name in imported_graphops_modules(path, module_of(path))
        if name in every_module and name not in modules
    }
    assert not missing, f"packaged code imports modules .funcignore leaves out: {sorted(missing)}"


def test_the_package_imports_the_app_and_the_console_without_the_repository(tmp_path: Path) -> None:
    for path in packaged():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, tmp_path / path)
    # -S: the installed packages without their .pth files, which would put this repository's graphops back.
    probe = (
        f"import sys; sys.path[1:1] = {site.getsitepackages()!r};"
        "import function_app, graphops.console.pages, graphops.functions;"
        f"assert all(m.__file__.startswith({str(tmp_path)!r}) for n, m in sys.modules.items()"
        " if n.startswith('graphops')), 'graphops came from outside the package'"
    )
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations"}
    command = [sys.executable, "-S", "-c", probe]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_project_license_is_an_spdx_expression() -> None:
    """A table ({text = ...}) makes every `pip install` print a deprecation notice."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str)
