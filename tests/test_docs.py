"""The README is a front page and the docs hold: it stays short, links every docs/ page, keeps its two set-up
commands, and every module, name, file and test the README and docs/ name exists (so a move or a rename that
breaks a documented name fails here, not for a reader)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS, REPO / "checkpoints_sync" / "README.md"]
MAX_README_LINES = 250


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def links(page: Path) -> list[str]:
    """Relative link targets of a markdown page (no URLs, no in-page anchors), file part only."""
    found = re.findall(r"\]\(([^)\s]+)\)", text(page))
    return [t.split("#")[0] for t in found if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_the_readme_is_a_front_page_that_links_every_docs_page():
    assert len(text(README).splitlines()) <= MAX_README_LINES
    linked = {(README.parent / t).resolve() for t in links(README)}
    assert DOCS, "docs/ has no pages"
    assert [d.name for d in DOCS if d.resolve() not in linked] == []


def test_every_relative_link_resolves():
    broken = [f"{page.relative_to(REPO)} -> {t}" for page in PAGES for t in links(page) if t
              and not (page.parent / t).exists()]
    assert broken == []


def test_the_setup_is_two_commands_and_ci_runs_the_readmes_test_command():
    setup = text(README).split("## Set up and run", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in setup.splitlines() if line.split("#")[0].strip()]
    assert commands == ["./dev demo", "./dev test"]
    ci = [line for line in text(REPO / ".ci" / "run").splitlines() if line and not line.startswith("#")]
    assert any(line.split()[:3] == ["exec", "./dev", "test"] for line in ci), ci


def documented_imports() -> list[tuple[str, str, str]]:
    """(page, module, name) for every `from kaggle_t2sql... import a, b` line and every dotted
    `kaggle_t2sql.x.y[.Name]` in backticks on the pages (name "" for a module)."""
    out = []
    for page in PAGES:
        where = str(page.relative_to(REPO))
        for module, names in re.findall(r"^\s*from (kaggle_t2sql[\w.]*) import ([\w, ]+)$", text(page), re.M):
            out += [(where, module, n.strip().split(" as ")[0]) for n in names.split(",") if n.strip()]
        for dotted in re.findall(r"`(kaggle_t2sql(?:\.\w+)+)`", text(page)):
            out.append((where, dotted, ""))
    return out


def resolve(dotted: str, name: str) -> object:
    """Import the longest module prefix of `dotted`, then take the remaining attributes (and `name`)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in [*parts[cut:], *([name] if name else [])]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_every_documented_name_imports():
    documented = documented_imports()
    # the README's own examples and the names the layout page promises are among them
    assert ("README.md", "kaggle_t2sql.infer.ask", "ask") in documented or any(
        m == "kaggle_t2sql.infer.ask" and n == "ask" for _, m, n in documented)
    assert any(m == "kaggle_t2sql.checkpoints.KaggleCheckpointManager" for _, m, _ in documented)
    failed = []
    for page, module, name in documented:
        try:
            resolve(module, name)
        except (ImportError, AttributeError) as exc:
            failed.append(f"{page}: {module}{'.' + name if name else ''} ({exc})")
    assert failed == []


def test_every_named_file_and_test_exists():
    """Paths (`kaggle_t2sql/...`, `tests/...`, `bench/...`, `notebooks/...`), `file::test` references and test
    names in backticks: each claim keeps the test or bench beside it only while that test or bench is there."""
    test_files = [p for p in (REPO / "tests").rglob("test_*.py")]
    defined = set()
    for path in test_files:
        defined |= {n.name for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    stems = {p.stem for p in test_files}
    missing = []
    for page in PAGES:
        body, where = text(page), page.relative_to(REPO)
        for path in re.findall(r"(?<![\w/.-])((?:kaggle_t2sql|tests|bench|notebooks)/[\w/.-]*\w)", body):
            if not (REPO / path).exists():
                missing.append(f"{where}: {path}")
        for path, test in re.findall(r"((?:tests)/[\w/]+\.py)::(\w+)", body):
            if (REPO / path).exists() and test not in {n.name for n in ast.walk(ast.parse((REPO / path).read_text()))
                                                       if isinstance(n, ast.FunctionDef)}:
                missing.append(f"{where}: {path}::{test}")
        for test in re.findall(r"`(test_\w+)`", body):
            if test not in defined and test not in stems:
                missing.append(f"{where}: {test}")
    assert missing == []
