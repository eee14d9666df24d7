"""The package's layout holds: every import inside kaggle_t2sql resolves, no import circle, and no stage
imports a later one (docs/layout.md). Imports are read with ast from every module, function-level
(lazy) imports included, so a circle hidden behind a lazy import is found too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kaggle_t2sql

PACKAGE_DIR = Path(kaggle_t2sql.__file__).resolve().parent

# The stages, in the order the flow runs and the order imports may point (a stage imports only earlier ones).
# Top-level modules are either shared (rank 0: config, errors, atomic, inputs, the run folder's format) or the
# entry points that tie the stages together (APPS, on top).
STAGES = {"data": 1, "sql": 2, "kaggle": 3, "train": 4, "infer": 5, "eval": 6}
APPS = {"cli", "cli_common", "cli_train", "cli_kaggle", "cli_infer", "demo", "notebook", "__main__"}
SHARED, TOP = 0, len(STAGES) + 1


def modules(package_dir: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is its __init__)."""
    root = package_dir.name
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [root, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def defined_names(tree: ast.Module) -> set[str]:
    """What `from module import name` can take from a module: its top-level definitions, assignments, imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):
            names.update(defined_names(ast.Module(body=[*node.body, *getattr(node, "orelse", [])], type_ignores=[])))
    return names


def import_edges(package_dir: Path) -> tuple[dict[str, set[str]], list[str]]:
    """module -> the package's modules it imports (anywhere in its body), and the imports that do not resolve."""
    mods = modules(package_dir)
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in mods.items()}
    root = package_dir.name
    edges: dict[str, set[str]] = {name: set() for name in mods}
    broken: list[str] = []
    for name, tree in trees.items():
        is_package = mods[name].name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names if a.name.split(".")[0] == root]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").split(".")[0] == root:
                    source = node.module
                else:
                    continue
                targets = [(source, a.name) for a in node.names]
            else:
                continue
            for source, imported in targets:
                where = f"{mods[name].relative_to(package_dir.parent)}:{node.lineno}"
                if imported is not None and f"{source}.{imported}" in mods:
                    edges[name].add(f"{source}.{imported}")  # `from . import atomic`: the module atomic
                elif source not in mods:
                    broken.append(f"{where}: no module {source}")
                elif imported is not None and imported != "*" and imported not in defined_names(trees[source]):
                    broken.append(f"{where}: {source} has no {imported}")
                else:
                    edges[name].add(source)
    for name in edges:
        edges[name].discard(name)
    return edges, broken


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import circles (one path each), by depth-first search."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def rank(module: str) -> int:
    """A module's place in the flow: its stage's, SHARED or TOP for top-level modules, -1 for an unplaced subpackage."""
    parts = module.split(".")
    if len(parts) == 1:  # the package's __init__
        return SHARED
    if parts[1] in STAGES:
        return STAGES[parts[1]]
    if len(parts) == 2:
        return TOP if parts[1] in APPS else SHARED
    return -1


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(edges.items()):
        for target in sorted(targets):
            if rank(module) < 0 or rank(target) < 0:
                out.append(f"{module if rank(module) < 0 else target}: a subpackage with no place in STAGES")
            elif rank(target) > rank(module):
                out.append(f"{module} (rank {rank(module)}) imports {target} (rank {rank(target)})")
    return out


def test_every_import_inside_the_package_resolves():
    edges, broken = import_edges(PACKAGE_DIR)
    assert not broken, "imports that name a module or a name that is not there:\n" + "\n".join(broken)
    # the walk sees lazy imports too (this one is inside a function)
    assert "kaggle_t2sql.data.retrieval" in edges["kaggle_t2sql.data.tokenization"]


def test_the_package_imports_of_tests_benches_and_notebooks_resolve():
    """A move must carry every user of the moved module along: tests, bench/ scripts, notebooks/*.py."""
    repo = PACKAGE_DIR.parent
    mods = modules(PACKAGE_DIR)
    trees = {}
    broken = []
    for path in sorted([*(repo / "tests").rglob("*.py"), *(repo / "bench").glob("*.py"), *(repo / "notebooks").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "kaggle_t2sql":
                pairs = [(node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                pairs = [(a.name, None) for a in node.names if a.name.split(".")[0] == "kaggle_t2sql"]
            else:
                continue
            for source, name in pairs:
                where = f"{path.relative_to(repo)}:{node.lineno}"
                if source not in mods:
                    broken.append(f"{where}: no module {source}")
                elif name and f"{source}.{name}" not in mods:
                    tree = trees.setdefault(source, ast.parse(mods[source].read_text(encoding="utf-8")))
                    if name not in defined_names(tree):
                        broken.append(f"{where}: {source} has no {name}")
    assert broken == []


def test_no_import_circle():
    edges, _ = import_edges(PACKAGE_DIR)
    found = cycles(edges)
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_stage_imports_a_later_stage():
    edges, _ = import_edges(PACKAGE_DIR)
    assert {p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").exists()} == set(STAGES), \
        "a new subpackage needs its place in STAGES (and docs/layout.md)"
    assert not upward_imports(edges), "imports against the flow:\n" + "\n".join(upward_imports(edges))
    # the notebook helpers depend on kaggle/, never the reverse
    assert any(t.startswith("kaggle_t2sql.kaggle.") for t in edges["kaggle_t2sql.notebook"])
    assert not [m for m, targets in edges.items() if m.startswith("kaggle_t2sql.kaggle") and "kaggle_t2sql.notebook" in targets]


def test_test_files_mirror_the_stages_and_their_names_are_unique():
    """Tests are imported by file name from every folder (tests/conftest.py): two files of one name would clash."""
    tests = Path(__file__).resolve().parent
    files = [p for p in tests.rglob("*.py") if p.name != "conftest.py" and ".venv" not in p.parts]
    names = [p.name for p in files]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert {p.parent.name for p in files} - {tests.name} <= set(STAGES) | {"emulator"}


@pytest.mark.parametrize("fault", ["circle", "upward", "missing name"])
def test_the_checks_catch_each_fault(tmp_path, fault):
    """The same walk over a small package with one fault planted finds it."""
    pkg = tmp_path / "kaggle_t2sql"
    for folder in ("", "data", "train"):
        (pkg / folder).mkdir(exist_ok=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("class T2SQLError(Exception):\n    pass\n")
    (pkg / "data" / "readers.py").write_text("from ..errors import T2SQLError\n")
    (pkg / "data" / "bundled.py").write_text("def load():\n    from .readers import T2SQLError\n")
    (pkg / "train" / "trainer.py").write_text("from ..data import bundled\n")
    edges, broken = import_edges(pkg)
    assert not broken and not cycles(edges) and not upward_imports(edges)
    assert edges["kaggle_t2sql.train.trainer"] == {"kaggle_t2sql.data.bundled"}
    if fault == "circle":
        (pkg / "data" / "readers.py").write_text("from ..errors import T2SQLError\n\ndef f():\n    from . import bundled\n")
        edges, _ = import_edges(pkg)
        assert cycles(edges) == [["kaggle_t2sql.data.bundled", "kaggle_t2sql.data.readers", "kaggle_t2sql.data.bundled"]]
    elif fault == "upward":
        (pkg / "data" / "readers.py").write_text("def f():\n    from ..train.trainer import bundled\n")
        edges, _ = import_edges(pkg)
        assert [u for u in upward_imports(edges) if "imports" in u] == [
            "kaggle_t2sql.data.readers (rank 1) imports kaggle_t2sql.train.trainer (rank 4)"]
    else:
        (pkg / "data" / "readers.py").write_text("from ..errors import DataError, T2SQLError\n")
        _, broken = import_edges(pkg)
        assert broken == ["kaggle_t2sql/data/readers.py:1: kaggle_t2sql.errors has no DataError"]
