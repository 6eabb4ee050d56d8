"""bench/report.py: a benchmark replaces its own section of docs/performance.md, and nothing else."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
assert spec is not None and spec.loader is not None
report = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = report
spec.loader.exec_module(report)

PAGE = """# Performance

Prose by hand.

<!-- bench:throughput begin -->
old figures
<!-- bench:throughput end -->

More prose.

<!-- bench:scale begin -->
scale figures
<!-- bench:scale end -->
"""


def test_a_section_is_replaced_whole_and_the_rest_kept() -> None:
    page = report.replaced(PAGE, "throughput", "new figures\nPASS  goal")
    assert "old figures" not in page
    assert "<!-- bench:throughput begin -->\nnew figures\nPASS  goal\n<!-- bench:throughput end -->" in page
    assert page.replace("new figures\nPASS  goal", "old figures") == PAGE
    assert report.replaced(page, "throughput", "new figures\nPASS  goal") == page  # twice: the same page


def test_a_page_without_the_section_is_an_error_naming_it() -> None:
    with pytest.raises(report.MissingSection, match="bench:schedule begin"):
        report.replaced(PAGE, "schedule", "figures")
    with pytest.raises(report.MissingSection, match="bench:cut end"):
        report.replaced("<!-- bench:cut begin -->\nno end", "cut", "figures")


def test_the_stamp_names_the_command_without_the_page() -> None:
    line = report.stamp(["/somewhere/bench/throughput.py", "--trackings", "500", "--docs", "docs/performance.md"])
    assert line.startswith("Written by `python bench/throughput.py --trackings 500` on ")


def test_every_section_the_benchmarks_write_is_in_the_page() -> None:
    page = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    for script in sorted((ROOT / "bench").glob("*.py")):
        for name in report.section_names(script.read_text(encoding="utf-8")):
            begin, end = report.markers(name)
            assert page.count(begin) == 1 and page.count(end) == 1, f"{script.name} writes {name!r}: no markers"
