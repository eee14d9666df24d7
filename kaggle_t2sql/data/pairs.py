"""Jupytext pairs: notebooks/*.py (percent format) is the source, *.ipynb is generated from it."""

from __future__ import annotations

from pathlib import Path


def _cells(nb) -> list[tuple[str, str, tuple]]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]


def out_of_sync(folder: str | Path) -> list[str]:
    """Notebook names whose .ipynb is missing or differs in cells, tags or kernelspec from its .py."""
    import jupytext

    stale = []
    for py in sorted(Path(folder).glob("*.py")):
        ipynb = py.with_suffix(".ipynb")
        if not ipynb.is_file():
            stale.append(ipynb.name)
            continue
        source, built = jupytext.read(py), jupytext.read(ipynb)
        if _cells(source) != _cells(built) or source.metadata.get("kernelspec") != built.metadata.get("kernelspec"):
            stale.append(ipynb.name)
    return stale


def regenerate(folder: str | Path) -> list[Path]:
    """Write every .ipynb from its .py (no outputs), atomically."""
    import jupytext

    from .. import atomic

    written = []
    for py in sorted(Path(folder).glob("*.py")):
        nb = jupytext.read(py)
        ipynb = py.with_suffix(".ipynb")
        atomic.write_text(ipynb, jupytext.writes(nb, fmt="ipynb"))
        written.append(ipynb)
    return written
