"""Writes a benchmark's figures into docs/performance.md, so the page shows what the last run measured.

Each benchmark owns the text between two markers of its name in the page::

    <!-- bench:throughput begin -->
    ...written by the run...
    <!-- bench:throughput end -->

and replaces it, whole, when run with ``--docs docs/performance.md`` (``make bench`` does). The prose around
the markers is written by hand and says what the figures mean; the figures themselves are never typed in.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import sys
from collections.abc import Sequence
from pathlib import Path


class MissingSection(ValueError):
    """The page has no markers (or only one of them) for a benchmark's section."""


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} begin -->", f"<!-- bench:{name} end -->"


def replaced(page: str, name: str, body: str) -> str:
    """``page`` with the section ``name`` holding ``body`` instead of what it held."""
    begin, end = markers(name)
    head, found, rest = page.partition(begin)
    if not found:
        raise MissingSection(f"no {begin!r} in the page: add the section's two markers where its figures go")
    _, found, tail = rest.partition(end)
    if not found:
        raise MissingSection(f"{begin!r} has no {end!r} after it")
    if begin in tail:
        raise MissingSection(f"{begin!r} appears twice: one section per benchmark")
    return f"{head}{begin}\n{body.strip()}\n{end}{tail}"


def machine() -> str:
    """One line on where the figures were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


def stamp(argv: Sequence[str] | None = None) -> str:
    """The line that opens every written section: the command and the machine, and when."""
    script, *args = list(sys.argv if argv is None else argv)
    shown = [arg for i, arg in enumerate(args) if arg != "--docs" and (i == 0 or args[i - 1] != "--docs")]
    command = " ".join(["python", f"bench/{Path(script).name}", *shown])
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    return f"Written by `{command}` on {today}, on {machine()}."


def write_section(path: Path | None, name: str, body: str) -> None:
    """Puts ``body`` (markdown) into the section ``name`` of the page at ``path``, stamped; nothing when no page
    was asked for."""
    if path is None:
        return
    page = path.read_text(encoding="utf-8")
    path.write_text(replaced(page, name, f"{stamp()}\n\n{body}"), encoding="utf-8")


def section_names(script: str) -> list[str]:
    """The sections a benchmark's source writes (each call of ``write_section`` with its name as a literal), so a
    test can hold the page to them."""
    return re.findall(r'write_section\(\s*[^,]+,\s*"([^"]+)"', script)


def fenced(lines: Sequence[str]) -> str:
    """Lines a benchmark printed, as the page shows them."""
    return "```\n" + "\n".join(lines) + "\n```"


def verdict(met: bool, goal: str) -> str:
    """A goal's line: PASS or FAIL first, as every benchmark prints them."""
    return f"{'PASS' if met else 'FAIL'}  {goal}"
