"""The scoring run's inputs (scoring.py): the gold file, the predictions aligned with it, and the database
of each gold line, with errors that name the file, the line and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError


@dataclass(frozen=True)
class GoldItem:
    line: int  # 1-based line in the gold file
    sql: str
    db_id: str


def _read_lines(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"{what} file {path} not found: check the --{what} path")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}); re-save the {what} file as UTF-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start another
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_gold(path: str | Path) -> list[GoldItem]:
    """`SQL<TAB>db_id` lines; blank lines at the end are ignored, anywhere else they are an error."""
    path = Path(path)
    lines = _read_lines(path, "gold")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: gold file is empty; expected one 'SQL<TAB>db_id' line per question")
    items = []
    for number, line in enumerate(lines, 1):
        sql, tab, db_id = line.rpartition("\t")
        if not tab or not sql.strip() or not db_id.strip() or len(db_id.split()) != 1:
            shown = line if len(line) <= 80 else line[:77] + "..."
            raise DataError(f"{path}:{number}: expected 'SQL<TAB>db_id', got {shown!r}; "
                            "fix the line (the gold SQL and its database id, separated by one tab)")
        items.append(GoldItem(number, sql.strip(), db_id.strip()))
    return items


def read_predictions(path: str | Path, gold: Sequence[GoldItem], gold_path: str | Path = "gold") -> list[str]:
    """One prediction per line, aligned with `gold`; a trailing `<TAB>db_id` matching the gold is dropped."""
    path = Path(path)
    lines = _read_lines(path, "pred")
    if len(lines) > len(gold) and not any(line.strip() for line in lines[len(gold):]):
        lines = lines[:len(gold)]  # extra blank lines at the end only
    if len(lines) != len(gold):
        raise DataError(
            f"{path} has {len(lines)} prediction lines but {gold_path} has {len(gold)} gold lines: write exactly "
            "one line per question in gold order (an empty line for a missing prediction; newlines inside a "
            "prediction replaced by spaces, see kaggle_t2sql.sql.compare.prediction_line)")
    preds = []
    for line, item in zip(lines, gold):
        sql, tab, tail = line.rpartition("\t")
        preds.append((sql if tab and tail.strip() == item.db_id else line).strip())
    return preds


def resolve_databases(gold: Sequence[GoldItem], db_root: str | Path, gold_path: str | Path = "gold") -> dict[str, str]:
    """db_id -> SQLite path under `db_root/<db_id>/<db_id>.sqlite`; every missing one named at once."""
    root = Path(db_root)
    if not root.is_dir():
        raise DataError(f"database root {root} is not a folder: pass --db-root DIR holding DIR/<db_id>/<db_id>.sqlite")
    paths, missing = {}, {}
    for item in gold:
        if item.db_id in paths or item.db_id in missing:
            continue
        candidate = root / item.db_id / f"{item.db_id}.sqlite"
        if candidate.is_file():
            paths[item.db_id] = str(candidate.resolve())
        else:
            missing[item.db_id] = item.line
    if missing:
        listed = ", ".join(f"{db} (first used on {gold_path}:{line})" for db, line in sorted(missing.items())[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise DataError(f"{len(missing)} database(s) missing under {root}: {listed}{more}; "
                        f"expected {root}/<db_id>/<db_id>.sqlite")
    return paths
