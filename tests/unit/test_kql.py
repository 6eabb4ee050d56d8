"""Every KQL query in infra/ (the alert rules and the workbook) parsed and analyzed by Microsoft's own Kusto
language service (npm @kusto/language-service-next, run with Node) against the Application Insights tables,
and each alert query returning the one column its rule reads."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
ANALYZE = ROOT / "tests" / "kql" / "analyze.js"
TABLES = json.loads((ROOT / "tests" / "data" / "appinsights-tables.json").read_text())["tables"]
# A Bicep single-quoted string after `query:`, with its escapes (\' \\ \n).
QUERY = re.compile(r"^\s*query: '((?:[^'\\]|\\.)*)'", re.MULTILINE)
ESCAPES = {"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\t": "\t", "\\$": "$"}


def bicep_string(raw: str) -> str:
    assert "${" not in raw.replace("\\${", ""), f"a query built by interpolation needs sample values here: {raw}"
    return re.sub(r"\\.", lambda m: ESCAPES.get(m.group(0), m.group(0)), raw)


def queries() -> dict[str, str]:
    """Every query in infra/, named by its file and line."""
    found = {}
    for path in sorted(INFRA.rglob("*.bicep")):
        source = path.read_text()
        for match in QUERY.finditer(source):
            line = source.count("\n", 0, match.start()) + 1
            found[f"{path.relative_to(INFRA)}:{line}"] = bicep_string(match.group(1))
    return found


def analyze(texts: list[str]) -> list[dict[str, list[str]]]:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@kusto" / "language-service-next").exists():
        pytest.fail("the Kusto language service runs on Node: `make node` installs it (package.json)")
    done = subprocess.run([node, str(ANALYZE)], input=json.dumps({"tables": TABLES, "queries": texts}),
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    results: list[dict[str, list[str]]] = json.loads(done.stdout)
    return results


def test_every_query_in_infra_parses_and_names_only_real_tables_and_columns() -> None:
    found = queries()
    assert len(found) >= 12, "the six alert rules and the six workbook panels"
    results = analyze(list(found.values()))
    problems = {where: r["diagnostics"] for where, r in zip(found, results, strict=True) if r["diagnostics"]}
    assert problems == {}


def test_the_documented_queries_parse_too() -> None:
    readme = (ROOT / "docs" / "operating.md").read_text()
    table = readme.split("**Which query answers what**")[1].split("\n\n")[1]
    texts = [q.replace("\\|", "|") for q in re.findall(r"^  \| [^|]+ \| `(.+)` \|$", table, re.MULTILINE)]
    assert len(texts) >= 5
    assert [r["diagnostics"] for r in analyze(texts)] == [[] for _ in texts]


def test_each_alert_query_returns_the_one_column_its_rule_measures() -> None:
    alerts = (INFRA / "app" / "alerts.bicep").read_text()
    rules = alerts.split("var rules = [")[1].split("\n]\n")[0]
    texts = [bicep_string(m.group(1)) for m in QUERY.finditer(rules)]
    assert len(texts) == 6
    measured = re.search(r"metricMeasureColumn: '(\w+)'", alerts)
    assert measured
    for text, result in zip(texts, analyze(texts), strict=True):
        assert result["diagnostics"] == [] and result["columns"] == [measured.group(1)], text


def test_the_unresolved_setting_alert_counts_the_line_graphops_logs() -> None:
    """The rule reads the one line a process logs when it starts without a secret: the event graphops writes
    (graphops.common.unresolved), as Application Insights keeps it (the JSON line is the trace's message)."""
    from graphops.common.unresolved import EVENT, Unresolved

    alerts = (INFRA / "app" / "alerts.bicep").read_text()
    rule = alerts.split("key: 'setting-unresolved'")[1].split("\n  }")[0]
    [query] = [bicep_string(m.group(1)) for m in QUERY.finditer(rule)]
    [result] = analyze([query])
    assert result["diagnostics"] == [] and result["columns"] == ["value"]
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("graphops").addHandler(handler)
    try:
        Unresolved("GRAPHOPS_ENVELOPE_KEY").announce()
    finally:
        logging.getLogger("graphops").removeHandler(handler)
    [record] = records
    line = json.loads(record.getMessage())
    assert f'tostring(parse_json(message).event) == "{line["event"]}"' in query and line["event"] == EVENT
    assert record.levelno >= logging.WARNING  # the worker passes it on whatever host.json's default level


def test_the_analyzer_catches_what_the_portal_would_refuse() -> None:
    """The check itself can fail: the bracketing error the workbook once had, and a column that does not exist."""
    bad = ['customMetrics | summarize n = count() by kind = tostring(customDimensions["k"])',
           "customMetrics | where nosuch > 1"]  # fmt: skip
    first, second = analyze(bad)
    assert any(d.startswith("KS228") for d in first["diagnostics"])
    assert any(d.startswith("KS142") for d in second["diagnostics"])
