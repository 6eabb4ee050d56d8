"""The ``graphops`` command's entry point (and ``python -m graphops``).

The command is built on its ``cli`` extra (click and rich; trustme and jsonschema for the local stack's
stand-ins), which the Function App does not need and so does not install. Without the extra the command says
in one line how to get it, instead of failing on an import: nothing the extra provides is imported before it
is known to be installed.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

MISSING_EXTRA = "error: the graphops command needs its extra: pip install 'graphops[cli]'"
_CLI_EXTRA = re.compile(r";.*\bextra\s*==\s*['\"]cli['\"]")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def missing_cli_requirements() -> list[str]:
    """The distributions of the ``cli`` extra that are not installed (none when graphops runs uninstalled)."""
    try:
        requirements = metadata.requires("graphops") or []
    except metadata.PackageNotFoundError:
        return []  # run from a checkout, not installed: the imports below say what is missing
    missing = []
    for requirement in requirements:
        name = _NAME.match(requirement)
        if name is None or not _CLI_EXTRA.search(requirement):
            continue
        try:
            metadata.version(name.group())
        except metadata.PackageNotFoundError:
            missing.append(name.group())
    return missing


def main() -> None:
    if missing_cli_requirements():
        print(MISSING_EXTRA, file=sys.stderr)
        raise SystemExit(2)
    from graphops.cli.base import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
