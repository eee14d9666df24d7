"""Arctic-Text2SQL-R1's execution reward on a bundled database: 1.0 / 0.1 / 0, judged in the sandbox."""

from kaggle_t2sql.data import bundled
from kaggle_t2sql.train.reward import NO_SQL, ExecutionJudge


def test_correct_ran_error_and_no_sql_at_all():
    ex = bundled.load_examples("train")[0]
    gold = ex.sql
    candidates = [
        gold,                                      # the gold result: 1.0
        "SELECT 1 WHERE 0",                        # runs, another result: 0.1
        "SELEC nonsense",                          # a syntax error: 0
        "",                                        # nothing extracted from the completion: 0, not 0.1
        "-- only a comment ;",                     # no statement either
        "SELECT name FROM no_such_table",          # runs into an error: 0
    ]
    with ExecutionJudge(workers=1, timeout=5.0) as judge:
        verdicts = judge.judge([(ex.db_id, ex.db_path, gold, sql) for sql in candidates])
    assert [(v.verdict, v.reward) for v in verdicts] == [
        ("correct", 1.0), ("ran", 0.1), ("error", 0.0), ("error", 0.0), ("error", 0.0), ("error", 0.0)]
    assert verdicts[3].error == verdicts[4].error == NO_SQL
    assert verdicts[2].error and verdicts[2].error != NO_SQL
