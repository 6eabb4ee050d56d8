"""The README and docs/ hold together: every relative link and anchor resolves, every term the README uses is
explained before it is used, and the reference pages name exactly the settings and routes the code has."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def prose(text: str) -> str:
    """A page without its fenced code, where `#` starts a comment and `](` is code, not a heading or a link."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped (but `-` and `_`), each space a `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes for a page's headings, a repeated heading's with `-1`, `-2`, ... after it."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose(page.read_text()), re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    """Every link and image target of a page that is not on the web or an email address."""
    return [t for t in LINK.findall(prose(page.read_text())) if not re.match(r"[a-z]+:", t)]


def broken_links(pages: list[Path]) -> list[str]:
    broken = []
    for page in pages:
        for target in links(page):
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{page.name}: {target} (no such heading)")
    return broken


def test_every_relative_link_and_anchor_in_the_readme_and_docs_resolves() -> None:
    assert len(PAGES) > 10
    assert not broken_links(PAGES)


def test_the_link_check_finds_a_missing_page_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# The `graphops` command\n\n## Password resets: v1.0 and beta\n")
    readme = tmp_path / "README.md"
    good = "[x](docs/a.md#the-graphops-command) [y](docs/a.md#password-resets-v10-and-beta) [z](#top)\n\n# Top\n"
    readme.write_text(good + "```sh\n# not a heading\n[not](a-link.md)\n```\n")
    assert not broken_links([readme])
    readme.write_text(good + "[gone](docs/b.md) [moved](docs/a.md#the-message) [here](#not-here)\n")
    assert [line.split(" (")[1] for line in broken_links([readme])] == ["no such file)", "no such heading)",
                                                                        "no such heading)"]  # fmt: skip


# The README explains these where it first uses them (in the quick start) or in its glossary, before any use.
GLOSSARY_TERMS = ("Azurite", "stand-in", "tracking", "step", "phase", "sink", "kind", "start action", "beta twin",
                  "waitForResource", "CloudEvent", "dead letter", "budget", "learned schedule")  # fmt: skip
EXPLAINED_IN_THE_QUICK_START = {"Azurite", "stand-in"}


def test_the_readme_explains_each_term_before_it_uses_it() -> None:
    readme = (ROOT / "README.md").read_text()
    before, glossary = readme.split("\n## Glossary\n", 1)
    before = re.sub(r"\]\([^)]*\)", "]", before)  # a link's address is not read as words
    glossary = glossary.split("\n## ", 1)[0]
    for term in GLOSSARY_TERMS:
        assert f"**{term}**" in glossary, f"the glossary explains {term}"
        used = re.search(rf"\b{re.escape(term)}", before, re.I)
        if term in EXPLAINED_IN_THE_QUICK_START:
            assert used and re.match(r"s? \(", before[used.end() :]), f"{term} is explained where it is first used"
        else:
            assert not used, f"{term!r} is used before the glossary: ...{before[used.start() - 40 : used.end()]}"


def table_rows(page: str, header: str) -> list[list[str]]:
    text = (ROOT / "docs" / page).read_text()
    rows = []
    for line in text[text.index(header) :].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))])
    return rows


def settings_the_code_reads() -> set[str]:
    """Every ``GRAPHOPS_*`` name graphops/settings.py spells, the only place the app's settings are read."""
    return set(re.findall(r'"(GRAPHOPS_[A-Z_]+)"', (ROOT / "graphops" / "settings.py").read_text()))


def test_docs_settings_documents_exactly_the_settings_the_app_reads() -> None:
    documented = {re.fullmatch(r"`([^`]+)`", row[0]).group(1)  # type: ignore[union-attr]
                  for row in table_rows("settings.md", "| setting | default | meaning |")}  # fmt: skip
    graphops = {name for name in documented if name.startswith("GRAPHOPS_")}
    code = settings_the_code_reads()
    assert len(code) > 30
    assert code - graphops == set(), "read by the app, not in docs/settings.md"
    assert graphops - code == set(), "in docs/settings.md, read by no code"


def bound_routes() -> set[str]:
    """``METHOD /api/route`` for each route function_app.py binds, a path parameter written ``{}``."""
    app = (ROOT / "function_app.py").read_text()
    routes = set()
    for route, methods in re.findall(r'@app\.route\(route="([^"]+)", methods=\[([^\]]+)\]', app):
        for method in re.findall(r'"([A-Z]+)"', methods):
            routes.add(f"{method} /api/{re.sub(r'{[^}]*}', '{}', route)}")
    return routes


def documented_routes() -> set[str]:
    """Each ``METHOD /api/...`` code span in the first column of docs/api.md's table."""
    spans = [span for row in table_rows("api.md", "| call | what |") for span in re.findall(r"`([^`]+)`", row[0])]
    return {re.sub(r"{[^}]*}", "{}", span.split("?")[0]) for span in spans if re.match(r"[A-Z]+ /api/", span)}


def test_docs_api_documents_exactly_the_routes_the_app_binds() -> None:
    bound, documented = bound_routes(), documented_routes()
    assert len(bound) >= 8
    assert bound - documented == set(), "bound by function_app.py, not in docs/api.md"
    assert documented - bound == set(), "in docs/api.md, bound by no function"
    # The OpenAPI document describes the API's routes, all bound (the console is not in it: pages, not an API).
    spec = json.loads((ROOT / "graphops" / "openapi.json").read_text())
    described = {f"{m.upper()} /api{re.sub(r'{[^}]*}', '{}', p)}" for p, ops in spec["paths"].items()
                 for m in ops if m != "parameters"}  # fmt: skip
    assert described <= bound and bound - described == {"GET /api/console/{}", "POST /api/console/{}"}


@pytest.mark.parametrize("page", ["kinds.md", "start-actions.md", "settings.md", "api.md"])
def test_each_reference_page_is_linked_from_the_readme(page: str) -> None:
    assert f"](docs/{page}" in (ROOT / "README.md").read_text()
