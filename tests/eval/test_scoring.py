"""Scoring: official verdicts for each kind of prediction, the fixtures score 1.000 against themselves."""

import hashlib
import json
import time
from argparse import ArgumentParser
from pathlib import Path

import pytest

from conftest import BIRD, SPIDER, make_db, needs_bird, needs_spider
from kaggle_t2sql.errors import DataError
from kaggle_t2sql.sql.execute import ExecResult
from kaggle_t2sql.sql.judge import TRAILING_STATEMENT_REFUSED, results_match
from kaggle_t2sql.eval.difficulty import spider_hardness
from kaggle_t2sql.eval.gold_files import read_gold
from kaggle_t2sql.eval.scoring import (
    add_score_arguments,
    render_markdown,
    run_score_command,
    score_files,
    write_jsonl,
    write_report,
)
from kaggle_t2sql.sql.compare import (
    early_mismatch,
    exact_match,
    find_column_permutation,
    has_order_by,
    normalize_sql,
    prediction_line,
    results_match_bird,
    results_match_test_suite,
    strip_distinct,
)

SHOP = """
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, city TEXT);
INSERT INTO people VALUES (1, 'Ada', 36, 'London'), (2, 'Bob', 17, 'Paris'), (3, 'Cyd', 52, 'Paris'),
                          (4, 'Dan', 41, 'London'), (5, 'Eve', 29, 'Rome');
"""
RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
ENDLESS_ROWS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c"
# One SQLite call of minutes (see test_execution): no deadline check can stop it, only a kill.
STUCK = "SELECT length(trim(printf('%.*c', 900000, 'a'), printf('%.*c', 80000, 'b') || 'a'))"

# (gold, prediction, test-suite verdict, bird verdict)
CASES = {
    "same": ("SELECT name FROM people WHERE age > 30", "select  NAME from PEOPLE where age > 30;", True, True),
    "reordered_columns": ("SELECT name, age FROM people", "SELECT age, name FROM people", True, False),
    "distinct_added": ("SELECT city FROM people", "SELECT DISTINCT city FROM people", True, True),
    "distinct_removed": ("SELECT DISTINCT city FROM people", "SELECT city FROM people", True, True),
    "count_distinct": ("SELECT count(DISTINCT city) FROM people", "SELECT count(city) FROM people", True, False),
    "order_flipped": ("SELECT name FROM people ORDER BY age DESC", "SELECT name FROM people ORDER BY age ASC",
                      False, True),
    "order_irrelevant": ("SELECT name FROM people", "SELECT name FROM people ORDER BY name DESC", True, True),
    "wrong_literal": ("SELECT name FROM people WHERE city = 'Paris'",
                      "SELECT name FROM people WHERE city = 'London'", False, False),
    "syntax_error": ("SELECT name FROM people", "SELEC name FROM people", False, False),
    "write": ("SELECT count(*) FROM people", "DELETE FROM people", False, False),
    "multi_statement": ("SELECT 1", "SELECT 1; DROP TABLE people", False, False),
    "empty": ("SELECT name FROM people", "", False, False),
    "runaway": ("SELECT count(*) FROM people", RUNAWAY, False, False),
    "extra_column": ("SELECT name FROM people", "SELECT name, age FROM people", False, False),
    "both_empty": ("SELECT name FROM people WHERE age > 99", "SELECT id, age FROM people WHERE age < 0", True, True),
    # test-suite keeps only the first statement; BIRD runs the text through Python's sqlite3, which refuses `; ;`
    "trailing_empty": ("SELECT name FROM people WHERE age > 30", "SELECT name FROM people WHERE age > 30; ;",
                       True, False),
    "endless_rows": ("SELECT count(*) FROM people", ENDLESS_ROWS, False, False),
    "stuck_in_one_call": ("SELECT count(*) FROM people", STUCK, False, False),
}
SLOW = ("runaway", "stuck_in_one_call")


def make_dataset(tmp_path: Path, pairs, db_id: str = "shop", gold_name: str = "gold.sql"):
    """gold file, pred file and db root for (gold, pred) pairs on one small database."""
    db_root = tmp_path / "dbs"
    if not (db_root / db_id / f"{db_id}.sqlite").exists():
        make_db(db_root / db_id / f"{db_id}.sqlite", SHOP)
    gold = tmp_path / gold_name
    gold.write_text("".join(f"{g}\t{db_id}\n" for g, _ in pairs))
    pred = tmp_path / "pred.sql"
    pred.write_text("".join(prediction_line(p) + "\n" for _, p in pairs))
    return gold, pred, db_root


@pytest.fixture(scope="module")
def verdict_reports(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("verdicts")
    names = list(CASES)
    gold, pred, db_root = make_dataset(tmp_path, [(CASES[n][0], CASES[n][1]) for n in names])
    db = db_root / "shop" / "shop.sqlite"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    start = time.perf_counter()
    reports = {sem: score_files(gold, pred, db_root, semantics=sem, timeout=1.0, workers=1, progress=False)
               for sem in ("test-suite", "bird")}
    elapsed = time.perf_counter() - start
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    return names, reports, elapsed


@pytest.mark.parametrize("semantics, column", [("test-suite", 2), ("bird", 3)])
def test_official_verdicts(verdict_reports, semantics, column):
    names, reports, _ = verdict_reports
    got = {n: ex["correct"] for n, ex in zip(names, reports[semantics]["examples"])}
    assert got == {n: CASES[n][column] for n in names}


def test_failures_are_recorded(verdict_reports):
    names, reports, elapsed = verdict_reports
    ex = dict(zip(names, reports["test-suite"]["examples"]))
    assert "syntax error" in ex["syntax_error"]["error"]
    assert "refused by the sandbox: delete people" in ex["write"]["error"]
    assert "more than one statement" in ex["multi_statement"]["error"]
    assert ex["empty"]["error"] == "empty prediction" and not ex["empty"]["exact_match"]
    assert ex["runaway"]["timed_out"] and 0.9 < ex["runaway"]["pred_seconds"] < 1.5
    assert not ex["runaway"]["worker_killed"]  # the deadline interrupted it
    stuck = ex["stuck_in_one_call"]
    assert stuck["timed_out"] and stuck["worker_killed"] and "worker process was killed" in stuck["error"]
    assert stuck["pred_seconds"] >= 1.0 and stuck["gold_row_count"] == 1 and stuck["gold_error"] is None
    assert elapsed < 60  # two runs; the stuck query alone would take minutes
    assert all(e["gold_error"] is None for e in ex.values())
    assert ex["same"]["exact_match"] and not ex["reordered_columns"]["exact_match"]
    assert ex["trailing_empty"]["error"] is None and ex["trailing_empty"]["exact_match"]
    bird = dict(zip(names, reports["bird"]["examples"]))
    assert bird["trailing_empty"]["error"] == TRAILING_STATEMENT_REFUSED
    early = {n for n, e in ex.items() if e["early_verdict"]}
    assert early == {"order_flipped", "wrong_literal", "extra_column", "endless_rows"}
    assert "more rows than the gold result" not in ex["endless_rows"]["early_verdict"]  # its first row differs
    assert ex["endless_rows"]["error"] is None and not ex["endless_rows"]["timed_out"]
    s = reports["test-suite"]["summary"]
    assert s["n"] == len(CASES) and s["timeouts"] == 2 and s["workers_killed"] == 1 and s["empty_predictions"] == 1
    assert s["errors"] == 6 and s["gold_errors"] == 0 and s["stopped_early"] == 4 and s["early_verdicts"]
    assert s["execution_accuracy"] == pytest.approx(sum(c[2] for c in CASES.values()) / len(CASES))
    assert s["semantics"] == "test-suite" and s["distinct_stripped"] and s["keep_distinct"] is False
    assert [e["index"] for e in reports["bird"]["examples"]] == list(range(len(CASES)))


@pytest.mark.parametrize("semantics, column", [("test-suite", 2), ("bird", 3)])
def test_verdicts_are_the_same_without_early_verdicts(tmp_path, semantics, column):
    names = [n for n in CASES if n not in SLOW]
    gold, pred, db_root = make_dataset(tmp_path, [CASES[n][:2] for n in names])
    report = score_files(gold, pred, db_root, semantics=semantics, timeout=1.0, workers=1, progress=False,
                         early_verdicts=False)
    assert {n: e["correct"] for n, e in zip(names, report["examples"])} == {n: CASES[n][column] for n in names}
    assert report["summary"]["stopped_early"] == 0 and not report["summary"]["early_verdicts"]
    endless = report["examples"][names.index("endless_rows")]
    assert "row cap exceeded" in endless["error"]  # it ran until a cap stopped it


def test_early_mismatch_only_rejects_what_cannot_match():
    gold = [(1, "a"), (1, "a"), (2, "b")]
    preds = {
        "permuted": [("b", 2), ("a", 1), ("a", 1)],  # columns and rows in another order: a match
        "extra_duplicate": [(1, "a"), (1, "a"), (2, "b"), (1, "a")],
        "missing_duplicate": [(1, "a"), (2, "b")],  # fewer rows: only the end shows it
        "float_equal": [(1.0, "a"), (1, "a"), (2.0, "b")],
        "other_value": [(1, "a"), (3, "b")],
        "wider": [(1, "a", 0)],
    }
    for ordered in (False, True):
        for semantics in ("test-suite", "bird"):
            for name, rows in preds.items():
                check = early_mismatch(semantics, gold, ordered and semantics == "test-suite")
                reasons = [check(i, row) for i, row in enumerate(rows)]
                match = results_match(semantics, ExecResult(gold, None, 0.0), ExecResult(rows, None, 0.0),
                                      ordered)
                assert not (any(reasons) and match), (semantics, ordered, name, reasons)
    check = early_mismatch("test-suite", gold, False)
    assert check(3, (1, "a")) == "more rows than the gold result (3)"
    assert check(0, (3, "b")) and check(0, (1, "a", 0)) == "3 columns, the gold result has 2"
    assert early_mismatch("test-suite", gold, True)(0, (2, "b"))  # ORDER BY: row 1 must be the gold's row 1
    assert early_mismatch("bird", gold, False)(5, (1, "a")) is None  # duplicates never matter to a set
    assert early_mismatch("bird", gold, False)(0, ("a", 1))  # column order does
    assert early_mismatch("test-suite", [], False)(0, (1,)) == "more rows than the gold result (0)"


@pytest.mark.timeout(120)
def test_a_killed_worker_between_ordinary_queries_leaves_every_other_verdict(tmp_path):
    ordinary = [(CASES[n][0], CASES[n][1]) for n in ("same", "reordered_columns", "wrong_literal", "empty")]
    pairs = ordinary[:2] + [("SELECT count(*) FROM people", STUCK)] + ordinary[2:] + \
        [(STUCK, "SELECT count(*) FROM people")] + ordinary
    gold, pred, db_root = make_dataset(tmp_path, pairs)
    db = db_root / "shop" / "shop.sqlite"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    # gold_timeout: the official 60 s would make the stuck gold query take a minute to be killed
    report = score_files(gold, pred, db_root, timeout=0.5, workers=1, progress=False, gold_timeout=0.5)
    ex = report["examples"]
    assert [e["correct"] for e in ex] == [True, True, False, False, False, False, True, True, False, False]
    assert [e["worker_killed"] for e in ex] == [False, False, True, False, False, True, False, False, False, False]
    assert ex[2]["timed_out"] and ex[2]["gold_row_count"] == 1 and ex[2]["gold_error"] is None
    assert "killed" in ex[5]["gold_error"] and ex[5]["error"] == "not run: the gold query did not finish"
    assert ex[3]["early_verdict"] and ex[8]["early_verdict"] and ex[4]["error"] == ex[9]["error"] == "empty prediction"
    assert report["summary"]["workers_killed"] == 2 and report["summary"]["gold_errors"] == 1
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_keep_distinct_makes_duplicates_matter(tmp_path):
    names = ("distinct_added", "distinct_removed", "count_distinct", "same", "trailing_empty")
    gold, pred, db_root = make_dataset(tmp_path, [CASES[n][:2] for n in names])
    report = score_files(gold, pred, db_root, keep_distinct=True, workers=1, progress=False)
    assert [e["correct"] for e in report["examples"]] == [False, False, False, True, False]
    assert report["examples"][4]["error"] == TRAILING_STATEMENT_REFUSED  # upstream runs the text as written
    assert report["summary"]["keep_distinct"] and not report["summary"]["distinct_stripped"]


@pytest.mark.timeout(120)
def test_parallel_equals_serial(tmp_path):
    pairs = [CASES[n][:2] for n in CASES if n not in SLOW] * 3 + [CASES[n][:2] for n in SLOW]
    gold, pred, db_root = make_dataset(tmp_path, pairs)
    # what depends on the machine's timing, not on the pool: seconds, and whether a runaway query was stopped by
    # its deadline check or (late past the grace on a loaded machine) by killing its worker, with that message
    timing = ("pred_seconds", "gold_seconds", "worker_killed")

    def verdicts(workers):
        report = score_files(gold, pred, db_root, timeout=0.5, workers=workers, progress=False)
        return [{k: v for k, v in e.items() if k not in timing and not (k == "error" and e["timed_out"])}
                for e in report["examples"]]

    assert verdicts(2) == verdicts(1)


# ---------------------------------------------------------------- comparison rules


def test_test_suite_comparison():
    rows = [(1, "a", 2.5), (2, "b", None), (2, "b", None)]
    assert results_match_test_suite(rows, list(reversed(rows)), order_matters=False)
    assert not results_match_test_suite(rows, list(reversed(rows)), order_matters=True)
    permuted = [(c, a, b) for a, b, c in rows]
    assert results_match_test_suite(rows, permuted, order_matters=True)
    assert not results_match_test_suite(rows, rows[:2], order_matters=False)  # duplicates count
    assert not results_match_test_suite(rows, [r[:2] for r in rows], order_matters=False)
    assert results_match_test_suite([(1,)], [(1.0,)], order_matters=False)  # Python ==, as upstream
    assert not results_match_test_suite([(0.1 + 0.2,)], [(0.3,)], order_matters=False)  # no float tolerance
    assert results_match_test_suite([], [], order_matters=True)


def test_column_permutation_with_interchangeable_columns():
    gold = [(1, 1, 2), (1, 2, 1)]
    pred = [(1, 2, 1), (2, 1, 1)]  # every column holds {1, 1, 2}-ish values: needs the search
    perm = find_column_permutation(gold, pred, order_matters=False)
    assert perm is not None
    assert sorted(tuple(r[p] for p in perm) for r in pred) == sorted(gold)
    wide = [tuple((i >> k) & 1 for k in range(10)) for i in range(1024)]  # ten columns, all 512 zeros/ones
    shuffled = [r[3:] + r[:3] for r in reversed(wide)]
    perm = find_column_permutation(wide, shuffled, order_matters=False)
    assert perm is not None and sorted(tuple(r[p] for p in perm) for r in shuffled) == sorted(wide)
    assert find_column_permutation([(1, 2)], [(1, 3)], order_matters=False) is None


def test_bird_comparison():
    assert results_match_bird([(1, "a"), (1, "a"), (2, "b")], [(2, "b"), (1, "a")])
    assert not results_match_bird([(1, "a")], [("a", 1)])


def test_strip_distinct_is_token_based():
    assert strip_distinct("SELECT DISTINCT name FROM t").split() == ["SELECT", "name", "FROM", "t"]
    assert strip_distinct("select count(distinct x) from t") == "select count( x) from t"
    kept = "SELECT 'distinct', \"distinct\" FROM t WHERE a IS NOT DISTINCT FROM b OR c IS DISTINCT FROM d"
    assert strip_distinct(kept) == kept
    assert strip_distinct("SELECT name FROM t -- DISTINCT") == "SELECT name FROM t -- DISTINCT"


def test_order_by_detection_and_normalization():
    # upstream's literal `'order by' in g_str.lower()` (exec_eval.eval_exec_match), difference for difference
    assert not has_order_by("SELECT a FROM t ORDER\n  BY a") and not has_order_by("SELECT a FROM t ORDER  BY a")
    assert has_order_by("SELECT a FROM t WHERE b IN (SELECT b FROM u ORDER BY b LIMIT 1)")
    assert has_order_by("SELECT 'order by' FROM t") and has_order_by("SELECT a FROM t -- order by")
    assert normalize_sql('SELECT T1."Name"  FROM `singer` AS t1 WHERE x = \'Ab\';') == \
        normalize_sql("select t1.name from [SINGER] as T1 where X='Ab' -- note")
    assert not exact_match("SELECT a FROM t WHERE x = 'Ab'", "SELECT a FROM t WHERE x = 'ab'")
    assert not exact_match("SELECT 1", "")
    assert prediction_line("SELECT a\nFROM t\twhere  b = 1") == "SELECT a FROM t where b = 1"


def test_spider_hardness_rules():
    def sql(**kw):
        base = {"select": [False, [[3, [0, [0, 0, False], None]]]], "from": {"table_units": [["table_unit", 0]],
                "conds": []}, "where": [], "groupBy": [], "having": [], "orderBy": [], "limit": None,
                "intersect": None, "union": None, "except": None}
        return base | kw

    assert spider_hardness(sql()) == "easy"  # SELECT count(*) FROM t
    two_cols = [False, [[0, [0, [0, 1, False], None]], [0, [0, [0, 2, False], None]]]]
    assert spider_hardness(sql(select=two_cols, orderBy=["desc", [[0, [0, 2, False], None]]])) == "medium"
    assert spider_hardness(sql(union=sql())) == "hard"
    assert spider_hardness(sql(union=sql(), limit=1, orderBy=["asc", [[0, [0, 2, False], None]]])) == "extra"


# ---------------------------------------------------------------- inputs and outputs


def test_difficulty_labels_come_from_the_json_beside_gold(tmp_path):
    pairs = [("SELECT 1", "SELECT 1"), ("SELECT 2", "SELECT 3"), ("SELECT 3", "SELECT 3")]
    gold, pred, db_root = make_dataset(tmp_path, pairs, gold_name="dev_gold.sql")
    (tmp_path / "dev.json").write_text(json.dumps(
        [{"db_id": "shop", "difficulty": d} for d in ("simple", "challenging", "simple")]))
    (tmp_path / "tables.json").write_text(json.dumps([{"db_id": "shop"}]))
    report = score_files(gold, pred, db_root, workers=1, progress=False)
    assert [e["difficulty"] for e in report["examples"]] == ["simple", "challenging", "simple"]
    assert report["summary"]["by_difficulty"] == {
        "simple": {"n": 2, "execution_accuracy": 1.0, "exact_match": 1.0},
        "challenging": {"n": 1, "execution_accuracy": 0.0, "exact_match": 0.0},
    }
    labels = score_files(gold, pred, db_root, workers=1, progress=False, difficulties=["a", None, "a"])
    assert list(labels["summary"]["by_difficulty"]) == ["a"]
    assert score_files(gold, pred, db_root, workers=1, progress=False, difficulties=None)["summary"][
        "by_difficulty"] == {}


def test_prediction_lines_tolerate_crlf_and_a_db_id_column(tmp_path):
    gold, _pred, db_root = make_dataset(tmp_path, [("SELECT 1", "")] * 2)
    pred = tmp_path / "p.sql"
    pred.write_bytes(b"SELECT 1\tshop\r\nSELECT 1\r\n\n")  # extra blank lines at the end are ignored
    report = score_files(gold, pred, db_root, workers=1, progress=False)
    assert report["summary"]["execution_accuracy"] == 1.0


def _error(tmp_path, gold_text=None, pred_text=None, db_root=None, **kw) -> str:
    gold, pred, root = make_dataset(tmp_path, [("SELECT 1", "SELECT 1"), ("SELECT 2", "SELECT 2")])
    if gold_text is not None:
        gold.write_text(gold_text)
    if pred_text is not None:
        pred.write_text(pred_text)
    with pytest.raises(DataError) as info:
        score_files(gold, pred, db_root or root, workers=1, progress=False, **kw)
    return str(info.value)


def test_bad_inputs_give_clear_errors(tmp_path):
    msg = _error(tmp_path, pred_text="SELECT 1\n")
    assert "pred.sql has 1 prediction lines but" in msg and "2 gold lines" in msg and "empty line" in msg
    msg = _error(tmp_path, gold_text="SELECT 1\tshop\nSELECT 2 shop\n")
    assert "gold.sql:2: expected 'SQL<TAB>db_id'" in msg
    assert "gold.sql:1:" in _error(tmp_path, gold_text="\tshop\nSELECT 1\tshop\n")
    assert "gold file is empty" in _error(tmp_path, gold_text="\n\n")
    msg = _error(tmp_path, gold_text="SELECT 1\tshop\nSELECT 1\tnowhere\n")
    assert "1 database(s) missing" in msg and "nowhere (first used on" in msg and "gold.sql:2" in msg
    assert "is not a folder" in _error(tmp_path, db_root=tmp_path / "absent")
    assert "unknown semantics 'spider'" in _error(tmp_path, semantics="spider")
    assert "timeout must be > 0" in _error(tmp_path, timeout=0)
    assert "3 difficulty labels given for 2 gold lines" in _error(tmp_path, difficulties=["a", "b", "c"])
    with pytest.raises(DataError, match="pred file .* not found"):
        gold, _, root = make_dataset(tmp_path, [("SELECT 1", "SELECT 1")])
        score_files(gold, tmp_path / "missing.sql", root, progress=False)
    assert [g.line for g in read_gold(gold)] == [1]


def test_reports_are_written_atomically_and_the_command_prints_the_table(tmp_path, capsys):
    gold, pred, db_root = make_dataset(tmp_path, [("SELECT name FROM people", "SELECT name FROM people"),
                                                  ("SELECT 1", "SELEC 1")])
    out = tmp_path / "out"
    parser = add_score_arguments(ArgumentParser())
    args = parser.parse_args(["--gold", str(gold), "--pred", str(pred), "--db-root", str(db_root),
                              "--out", str(out / "report.json"), "--markdown", str(out / "report.md"),
                              "--jsonl", str(out / "examples.jsonl"), "--workers", "1", "--timeout", "2",
                              "--no-progress", "--no-early-verdicts"])
    assert run_score_command(args) == 0
    printed = capsys.readouterr().out
    assert "| **all** | 2 | **0.500** |" in printed and "prediction errors: 1" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["execution_accuracy"] == 0.5 and report["summary"]["timeout"] == 2.0
    assert report["summary"]["early_verdicts"] is False
    lines = (out / "examples.jsonl").read_text().splitlines()
    assert [json.loads(line)["correct"] for line in lines] == [True, False]
    assert (out / "report.md").read_text() == render_markdown(report)
    assert sorted(p.name for p in out.iterdir()) == ["examples.jsonl", "report.json", "report.md"]  # no temp files
    write_report(report, out / "report.json")
    write_jsonl(report, out / "examples.jsonl")
    assert json.loads((out / "report.json").read_text()) == report


# ---------------------------------------------------------------- reference data


@needs_spider
def test_spider_gold_scores_itself_perfectly(tmp_path):
    gold = SPIDER / "dev_gold.sql"
    pred = tmp_path / "pred.sql"  # every third with empty statements after it: test-suite runs the first only
    pred.write_text("".join(g.sql + ("; ;" if i % 3 == 0 else "") + "\n" for i, g in enumerate(read_gold(gold))))
    report = score_files(gold, pred, SPIDER / "database", workers=2, progress=False)
    s = report["summary"]
    assert s["n"] == 972 and s["execution_accuracy"] == 1.0 and s["exact_match"] == 1.0
    assert s["errors"] == 0 and s["gold_errors"] == 0
    assert list(s["by_difficulty"]) == ["easy", "medium", "hard", "extra"]  # Spider hardness from dev.json
    assert report["examples"][0]["difficulty"] == "easy" and report["examples"][2]["difficulty"] == "medium"


@needs_bird
def test_bird_gold_scores_itself_perfectly(tmp_path):
    gold = BIRD / "mini_dev_sqlite_gold.sql"
    pred = tmp_path / "pred.sql"  # every tenth with `; ;` after it: BIRD's evaluator refuses those
    pred.write_text("".join(g.sql + ("; ;" if i % 10 == 0 else "") + "\n" for i, g in enumerate(read_gold(gold))))
    report = score_files(gold, pred, BIRD / "dev_databases", semantics="bird", workers=2, progress=False)
    s = report["summary"]
    assert s["n"] == 140 and s["correct"] == 126 and s["errors"] == 14 and s["gold_errors"] == 0
    assert {e["error"] for e in report["examples"][::10]} == {TRAILING_STATEMENT_REFUSED}
    assert {k: v["n"] for k, v in s["by_difficulty"].items()} == {"simple": 40, "moderate": 65, "challenging": 35}


# ---------------------------------------------------------------- issue 18: the official evaluators' edge cases


def test_int_and_float_in_a_multi_value_row_differ_as_in_upstream_quick_rej():
    """Review defect 5: quick_rej sorts each row by str(value) + str(type), so (1, 1.5) and (1.0, 1.5) sort
    apart and upstream calls them different; a lone 1 vs 1.0 still matches (== after the same sort)."""
    from kaggle_t2sql.sql.compare import quick_rej

    assert not results_match_test_suite([(1, 1.5)], [(1.0, 1.5)], order_matters=False)
    assert not results_match_test_suite([(1, 1.5)], [(1.0, 1.5)], order_matters=True)
    assert not quick_rej([(1, 1.5)], [(1.0, 1.5)], False)
    assert results_match_test_suite([(1,)], [(1.0,)], order_matters=False)
    assert results_match_test_suite([(2, 1.5)], [(1.5, 2.0)], order_matters=False)  # "1.5..." < "2..." either way
    assert results_match_test_suite([(1, "a"), (2, "b")], [("b", 2), ("a", 1)], order_matters=False)


def _one_db(tmp_path, script):
    db_root = tmp_path / "dbs"
    make_db(db_root / "x" / "x.sqlite", script)
    return db_root


def _score_pairs(tmp_path, db_root, pairs, **kwargs):
    gold, pred = tmp_path / "gold.sql", tmp_path / "pred.sql"
    gold.write_text("".join(f"{g}\tx\n" for g, _ in pairs))
    pred.write_text("".join(p + "\n" for _, p in pairs))
    return score_files(gold, pred, db_root, workers=1, progress=False, difficulties=None, **kwargs)


def test_bird_semantics_counts_invalid_utf8_wrong_like_bird(tmp_path):
    """Review defect 6: BIRD's evaluator uses Python's default text factory, which raises on invalid UTF-8;
    test-suite's drops the bad bytes (errors="ignore")."""
    import sqlite3

    db_root = _one_db(tmp_path, "CREATE TABLE t (name TEXT);")
    conn = sqlite3.connect(db_root / "x" / "x.sqlite")
    conn.execute("INSERT INTO t VALUES (CAST(X'41FF42' AS TEXT))")
    conn.commit(), conn.close()
    pairs = [("SELECT name FROM t", "SELECT name FROM t"), ("SELECT count(*) FROM t", "SELECT count(*) FROM t")]
    bird = _score_pairs(tmp_path, db_root, pairs, semantics="bird")["examples"]
    assert [e["correct"] for e in bird] == [False, True]
    assert "decode" in bird[0]["gold_error"]
    suite = _score_pairs(tmp_path, db_root, pairs, semantics="test-suite")["examples"]
    assert [e["correct"] for e in suite] == [True, True]


def test_empty_or_comment_only_predictions_run_under_bird_as_the_official_script_does(tmp_path):
    """BIRD's evaluator runs "" (cursor.execute gives []): right exactly when the gold result is empty."""
    db_root = _one_db(tmp_path, "CREATE TABLE t (a INT); INSERT INTO t VALUES (1);")
    empty_gold, full_gold = "SELECT a FROM t WHERE a > 5", "SELECT a FROM t"
    pairs = [(empty_gold, ""), (empty_gold, "-- no idea"), (empty_gold, ";"), (empty_gold, "/* x */ ;"),
             (full_gold, ""), (full_gold, "-- no idea")]
    bird = _score_pairs(tmp_path, db_root, pairs, semantics="bird")["examples"]
    assert [e["correct"] for e in bird] == [True, True, True, True, False, False]
    suite = _score_pairs(tmp_path, db_root, pairs, semantics="test-suite")["examples"]
    assert not any(e["correct"] for e in suite)  # OmniSQL writes these as "Error SQL" for test-suite


def test_pred_file_lines_strip_comments_like_omnisql_and_are_never_blank():
    from kaggle_t2sql.sql.compare import pred_file_line

    assert pred_file_line("-- why\nSELECT a /* b */\nFROM t\t-- end") == "SELECT a  FROM t"
    assert pred_file_line("SELECT 'a  b'") == "SELECT 'a  b'"  # literals keep their spaces
    assert pred_file_line("") == pred_file_line("-- only a comment") == "Error SQL"
    assert pred_file_line("", "bird") == ";" and pred_file_line("x\ry") == "x y"


@pytest.mark.timeout(120)
def test_gold_queries_run_under_the_official_limits_not_the_predictions(tmp_path):
    """Review defect 7: the gold query got the prediction's row cap and timeout. The official evaluators
    cap no rows and give the gold query 30 s (BIRD) / 60 s (test-suite)."""
    db_root = _one_db(tmp_path, "CREATE TABLE t (a INT);")
    many = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 50) SELECT x FROM c"
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 3000000) SELECT count(*) FROM c"
    report = _score_pairs(tmp_path, db_root, [(many, "SELECT 1"), (slow, "SELECT 3000000")], semantics="bird",
                          row_cap=10, timeout=0.05)
    first, second = report["examples"]
    assert first["gold_error"] is None and first["gold_row_count"] == 50 and not first["correct"]
    assert second["gold_error"] is None and second["correct"], second
    assert report["summary"]["gold_timeout"] == 30.0 and report["summary"]["gold_errors"] == 0
    capped = _score_pairs(tmp_path, db_root, [(slow, "SELECT 3000000")], timeout=0.05, gold_timeout=0.05)
    assert "timed out" in capped["examples"][0]["gold_error"]
