"""The documentation matches the repository: links resolve, the records page is generated."""

from __future__ import annotations

import inspect
import re
import unicodedata
from pathlib import Path
from typing import Literal

import pytest
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import BaseModel, Field

from nbjudge import docs, schemas

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKDOWN = MarkdownIt("commonmark").enable("table")


def _tokens(page: Path) -> list[Token]:
    return MARKDOWN.parse(page.read_text(encoding="utf-8"))


def _inline_text(token: Token) -> str:
    return "".join(child.content for child in token.children or []
                   if child.type in ("text", "code_inline"))


def _github_slug(text: str) -> str:
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _mkdocs_slug(text: str) -> str:
    """Python-Markdown's ``toc`` slugify, which mkdocs uses."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _headings(page: Path) -> list[str]:
    tokens = _tokens(page)
    return [_inline_text(tokens[i + 1]) for i, token in enumerate(tokens)
            if token.type == "heading_open"]


def _anchors(page: Path) -> set[str]:
    anchors: set[str] = set()
    for heading in _headings(page):
        slug = base = _github_slug(heading)
        number = 0
        while slug in anchors:  # GitHub numbers repeated headings: name, name-1, ...
            number += 1
            slug = f"{base}-{number}"
        anchors.add(slug)
    return anchors


def _links(page: Path) -> list[str]:
    found = []
    for token in _tokens(page):
        for child in token.children or []:
            if child.type == "link_open":
                found.append(str(child.attrs["href"]))
            elif child.type == "image":
                found.append(str(child.attrs["src"]))
    return found


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in filter(_relative, _links(page)):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file.relative_to(ROOT)}")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target}: no heading of {file.relative_to(ROOT)} has the "
                          f"anchor #{anchor}")
    assert not broken, f"{page.relative_to(ROOT)}: broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_headings_have_one_anchor_on_github_and_in_mkdocs(page: Path) -> None:
    differ = [f"{h!r}: #{_github_slug(h)} on GitHub, #{_mkdocs_slug(h)} in mkdocs"
              for h in _headings(page) if _github_slug(h) != _mkdocs_slug(h)]
    assert not differ, (f"{page.relative_to(ROOT)}: reword these headings so that links "
                        "to them work in both:\n" + "\n".join(differ))


def test_the_readme_opens_with_the_two_commands() -> None:
    fences = [t for t in _tokens(ROOT / "README.md") if t.type == "fence"]
    first = [line.split("#")[0].strip() for line in fences[0].content.splitlines()]
    assert first == ["make repro", "make test"]


def test_every_page_is_on_the_map_and_in_the_site() -> None:
    pages = {p.name for p in PAGES if p.parent.name == "docs"}
    index = {t.split("#")[0] for t in _links(ROOT / "docs" / "index.md")}
    assert pages - {"index.md"} <= index, f"missing from docs/index.md: {pages - index}"
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def nav_files(item: object) -> set[str]:
        if isinstance(item, str):
            return {item}
        if isinstance(item, dict):
            return set().union(*(nav_files(v) for v in item.values()))
        if isinstance(item, list):
            return set().union(*(nav_files(v) for v in item))
        return set()

    assert nav_files(config["nav"]) == pages


@pytest.mark.parametrize("page", sorted(docs.PAGES))
def test_generated_pages_are_what_the_code_generates(page: str) -> None:
    committed = (ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8")
    assert committed == docs.PAGES[page](), (
        f"docs/{page}.md is stale: run `make docs-pages` and commit it")


def test_every_record_class_is_on_the_records_page() -> None:
    classes = {name for name, obj in inspect.getmembers(schemas, inspect.isclass)
               if issubclass(obj, BaseModel) and obj.__module__ == schemas.__name__
               and obj is not schemas.Record}
    documented = set(_headings(ROOT / "docs" / "records.md"))
    assert classes <= documented, (
        f"not reachable from docs.RECORD_FILES: {sorted(classes - documented)}")


class _Example(BaseModel):
    """An example record."""

    # What it is, said above
    # over two lines.
    name: str
    size: int = Field(default=1, ge=0)  # said beside
    kind: Literal["a", "b"] | None = None  # type: ignore[assignment]  # after mypy's note
    told: str = Field(default="x", description="from Field")  # not this
    parts: list[schemas.Guideline] = Field(default_factory=list)
    dimension: schemas.Dimension = "model_use"


def test_a_model_section_shows_types_defaults_and_descriptions() -> None:
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
             for line in docs._model_section(_Example, level=2).splitlines()
             if line.startswith("| `")]
    rows = {row[0]: row[1:] for row in cells}
    assert rows["`name`"] == ["str", "required", "What it is, said above over two lines."]
    assert rows["`size`"] == ["int, >= 0", "1", "said beside."]
    assert rows["`kind`"] == ['"a" \\| "b" \\| None', "None", "after mypy's note."]
    assert rows["`told`"] == ["str", '"x"', "from Field."]
    assert rows["`parts`"] == ["list[[Guideline](#guideline)]", "[]", ""]
    assert rows["`dimension`"] == ["[dimension](#dimensions)", '"model_use"', ""]


def test_the_command_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "records.md"
    assert docs.main(["records", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == docs.render_records()
