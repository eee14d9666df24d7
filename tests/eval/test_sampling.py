"""`sample`: candidates judged by execution -> samples / rft / pairs files, resumable across a real kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kaggle_t2sql.eval.sample_pairs import edit_distance, pair_rows, pass_at_k, reasoning_of, rft_rows, summarize


def _record(candidates, gold_sql="SELECT 1"):
    return {"index": 0, "id": "q0", "db_id": "school", "question": "how many?", "external_knowledge": "",
            "gold_sql": gold_sql, "sql_complexity": "Simple", "prompt": "P",
            "candidates": [{"completion": f"\nthink {i}\n</think>\n<answer>\n```sql\n{sql}\n```\n</answer>", "sql": sql,
                            "verdict": v, "reward": {"correct": 1.0, "ran": 0.1, "error": 0.0}[v], "error": None}
                           for i, (sql, v) in enumerate(candidates)]}


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("same", "same") == 0


def test_each_correct_candidate_pairs_with_the_nearest_wrong_one():
    rec = _record([("SELECT count(*) FROM t", "correct"), ("SELECT name FROM other_table", "ran"),
                   ("SELECT count(*) FROM u", "error"), ("SELECT max(a) FROM t", "correct")])
    pairs = pair_rows(rec, gold_as_chosen=False, style="arctic")
    assert [(p["chosen_sql"], p["rejected_sql"]) for p in pairs] == [
        ("SELECT count(*) FROM t", "SELECT count(*) FROM u"), ("SELECT max(a) FROM t", "SELECT count(*) FROM u")]
    assert set(pairs[0]) == {"db_id", "question", "external_knowledge", "gold_sql", "prompt", "chosen", "rejected",
                             "chosen_sql", "rejected_sql"}
    assert pairs[0]["chosen"] == rec["candidates"][0]["completion"]


def test_gold_is_chosen_only_when_asked_and_only_without_a_correct_candidate():
    rec = _record([("SELECT 22", "ran"), ("SELEC 1", "error")], gold_sql="SELECT 1")
    assert pair_rows(rec, gold_as_chosen=False, style="arctic") == []
    [pair] = pair_rows(rec, gold_as_chosen=True, style="arctic")
    assert pair["chosen_sql"] == "SELECT 1" and pair["rejected_sql"] == "SELEC 1" and "```sql\nSELECT 1\n```" in pair["chosen"]
    all_right = _record([("SELECT 1", "correct")])
    assert pair_rows(all_right, gold_as_chosen=True, style="arctic") == []  # nothing wrong to contrast with
    mixed = _record([("SELECT 1 AS one", "correct"), ("SELECT 2", "ran")], gold_sql="SELECT 1")
    assert [p["chosen_sql"] for p in pair_rows(mixed, gold_as_chosen=True, style="arctic")] == ["SELECT 1 AS one"]


def test_rft_rows_keep_distinct_correct_sql_with_its_reasoning():
    rec = _record([("SELECT 1", "correct"), ("SELECT 1", "correct"), ("SELECT 2", "ran")])
    rows = rft_rows(rec, "arctic")
    assert [(r["sql"], r["cot"]) for r in rows] == [("SELECT 1", "think 0")]
    assert reasoning_of("no end tag ```sql\nSELECT 1\n```", "arctic") == ""
    assert reasoning_of(" all of it ", "omnisql") == "all of it"


def test_pass_at_k_and_summary():
    assert pass_at_k(4, 0, 1) == 0.0 and pass_at_k(4, 4, 1) == 1.0 and pass_at_k(4, 1, 1) == 0.25
    assert pass_at_k(4, 1, 4) == 1.0 and abs(pass_at_k(4, 1, 2) - 0.5) < 1e-12
    s = summarize([_record([("a", "correct"), ("b", "ran")]), _record([("c", "error"), ("d", "ran")])])
    assert s["share_with_correct"] == 0.5 and s["pass@1"] == 0.25 and s["pass@2"] == 0.5
    assert abs(s["mean_reward"] - (1.0 + 0.1 + 0.0 + 0.1) / 4) < 1e-12
    assert s["verdicts"] == {"correct": 1, "ran": 2, "error": 1}


# ---------------------------------------------------------------- real runs from a demo adapter (slow)

SAMPLE_ARGS = ["--limit", "3", "--samples", "2", "--max-new-tokens", "32", "--save-every", "1", "--gold-as-chosen"]
OUTPUTS = ("samples.jsonl", "rft.jsonl", "pairs.jsonl")


def _sample_cmd(adapter, out):
    return [sys.executable, "-m", "kaggle_t2sql", "sample", "--preset", "demo", "--adapter", str(adapter),
            "--data", "bundled", "--split", "train", *SAMPLE_ARGS, "--out", str(out), "--json"]


def _judge(db_path, gold, sql):
    from kaggle_t2sql.sql.judge import ScoreTask, score_example

    return score_example(ScoreTask(0, "db", db_path, gold, sql, "bird")).correct


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_sample_killed_mid_way_and_rerun_writes_the_same_files(tmp_path, demo_adapter):
    whole = subprocess.run(_sample_cmd(demo_adapter, tmp_path / "whole"), capture_output=True, text=True, timeout=900)
    assert whole.returncode == 0, whole.stderr[-2000:]
    report = json.loads(whole.stdout[whole.stdout.index("{"):])
    assert report["questions"] == 3 and report["candidates"] == 6
    assert set(report) >= {"share_with_correct", "pass@1", "pass@2", "mean_reward", "candidates_per_second_this_session"}

    cut = tmp_path / "cut"
    proc = subprocess.Popen(_sample_cmd(demo_adapter, cut), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and proc.poll() is None:
        if (cut / "progress.json").is_file() and json.loads((cut / "progress.json").read_text())["done"] >= 1:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads((cut / "progress.json").read_text())["done"]
    assert 1 <= done < 3, done  # really cut mid-way
    with open(cut / "samples.jsonl", "a") as f:
        f.write('{"half a line written as the kill came')  # what a kill mid-append leaves
    again = subprocess.run(_sample_cmd(demo_adapter, cut), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"carrying on after {done} of 3" in again.stdout
    for name in OUTPUTS:
        assert (cut / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name

    # every chosen / rft SQL reproduces the gold result, every rejected one does not (re-scored here)
    from kaggle_t2sql.data import bundled

    db_of = {ex.db_id: ex.db_path for ex in bundled.load_examples("train")}
    records = [json.loads(line) for line in (cut / "samples.jsonl").read_text().splitlines()]
    pairs = [json.loads(line) for line in (cut / "pairs.jsonl").read_text().splitlines()]
    rft = [json.loads(line) for line in (cut / "rft.jsonl").read_text().splitlines()]
    assert pairs, "gold-as-chosen gives a pair to every question with a wrong candidate"
    for p in pairs:
        assert _judge(db_of[p["db_id"]], p["gold_sql"], p["chosen_sql"])
        assert not _judge(db_of[p["db_id"]], p["gold_sql"], p["rejected_sql"])
    gold_of = {(r["db_id"], r["question"]): r["gold_sql"] for r in records}
    for row in rft:
        assert _judge(db_of[row["db_id"]], gold_of[(row["db_id"], row["question"])], row["sql"])
    correct = {(r["question"], c["sql"]) for r in records for c in r["candidates"] if c["verdict"] == "correct"}
    assert {(row["question"], row["sql"]) for row in rft} == correct
    from kaggle_t2sql.data.readers import read_jsonl

    if rft:  # rft.jsonl reads as a `jsonl` training source as it is
        assert len(read_jsonl(cut / "rft.jsonl")) == len(rft)


def test_a_rerun_with_other_settings_or_a_damaged_samples_file_is_refused(tmp_path):
    from kaggle_t2sql import atomic
    from kaggle_t2sql.errors import ConfigError, DataError
    from kaggle_t2sql.eval.sampling import _read_progress

    key = {"settings": {"samples": 4}, "adapter": "abc"}
    assert _read_progress(tmp_path, key) == (0, 0)
    (tmp_path / "samples.jsonl").write_text("")  # cut before the first save: starts afresh
    assert _read_progress(tmp_path, key) == (0, 0)
    (tmp_path / "samples.jsonl").write_text('{"index": 0}\n')
    with pytest.raises(DataError, match="not written by this command"):
        _read_progress(tmp_path, key)
    atomic.write_json(tmp_path / "progress.json", {"key": key, "done": 1, "bytes": 13})
    assert _read_progress(tmp_path, key) == (1, 13)
    with pytest.raises(ConfigError, match="other settings .settings differ"):
        _read_progress(tmp_path, {**key, "settings": {"samples": 8}})
    (tmp_path / "samples.jsonl").write_text("{")
    with pytest.raises(DataError, match="shorter"):
        _read_progress(tmp_path, key)


class _ScriptedModel:
    """Stands in for the model (the tiny one rarely writes a correct query in a few tokens): for each question
    its gold SQL after some reasoning, a near miss that runs and returns nothing, and an answer with no SQL."""

    def __init__(self, examples):
        self.examples = examples

    def generate(self, prompts, samples=1, temperature=0.0):
        from kaggle_t2sql.infer.engine import Generation

        out = []
        for prompt in prompts:
            gold = next(ex.sql for ex in self.examples if ex.question in prompt).rstrip().rstrip(";")
            texts = [f"First the table, then the filter.\n</think>\n```sql\n{gold};\n```",  # Arctic's shape
                     f"Close.\n```sql\nSELECT * FROM ({gold}) LIMIT 0;\n```",
                     "I cannot tell."]
            out.append(Generation(texts[:samples], capped=[False, True, False][:samples]))  # the near miss: cut
        return out


def test_correct_candidates_become_rft_rows_and_chosen_sides_and_rescore_as_correct(tmp_path):
    """Every question has one correct candidate: rft.jsonl holds it with its reasoning, pairs.jsonl pairs it
    (chosen) with a wrong one (rejected), and re-scoring them here agrees; the answer with no SQL is an error."""
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.data import bundled
    from kaggle_t2sql.eval.sampling import SampleSettings, read_records, run_sample
    from kaggle_t2sql.train.model import load_tokenizer

    cfg = build_config("tiny")
    settings = SampleSettings(split="train", limit=4, samples=3, temperature=0.8, max_new_tokens=8, save_every=2)
    examples = bundled.load_examples("train")[:4]
    report = run_sample(cfg, settings, None, tmp_path, _ScriptedModel(examples), load_tokenizer(cfg.model),
                        lambda *a, **k: None)
    assert report["verdicts"] == {"correct": 4, "ran": 4, "error": 4} and report["share_with_correct"] == 1.0
    assert report["hit_token_cap"] == 4  # each question's near miss was cut at max_new_tokens
    records = read_records(tmp_path / "samples.jsonl")
    assert [c["verdict"] for r in records for c in r["candidates"]] == ["correct", "ran", "error"] * 4
    db_of, gold_of = {ex.db_id: ex.db_path for ex in examples}, {ex.question: ex.sql for ex in examples}
    rft = [json.loads(line) for line in (tmp_path / "rft.jsonl").read_text().splitlines()]
    pairs = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(rft) == len(pairs) == 4
    for row in rft:
        assert _judge(db_of[row["db_id"]], gold_of[row["question"]], row["sql"])
        assert row["cot"].startswith("First the table")
    for pair in pairs:
        assert _judge(db_of[pair["db_id"]], pair["gold_sql"], pair["chosen_sql"])
        assert not _judge(db_of[pair["db_id"]], pair["gold_sql"], pair["rejected_sql"])


# ---------------------------------------------------------------- through a checkpoint store

class _Killed(Exception):
    """The session's end, mid-sampling."""


class _CutAfter:
    """The real generator, cut (as a killed session) once it has answered `n` questions."""

    def __init__(self, inner, n):
        self.inner, self.left = inner, n

    def generate(self, *args, **kwargs):
        if self.left == 0:
            raise _Killed("session killed")
        self.left -= 1
        return self.inner.generate(*args, **kwargs)


class _FailingPushes:
    """A store whose next `failures` uploads fail (the network, a refused version), else the real one."""

    def __init__(self, store, failures):
        self.store, self.failures = store, failures

    def __getattr__(self, name):
        return getattr(self.store, name)

    def commit(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise OSError("connection reset during upload")
        return self.store.commit(*args, **kwargs)


def test_sample_chains_through_the_store_into_a_fresh_folder_with_no_duplicate_and_no_lost_question(tmp_path):
    """Session 1 samples 2 of 4 questions and is killed; its pushes reach the store. Session 2 runs in a fresh
    folder, pulls, and carries on (one of its pushes fails: retried at the next save). The files equal an
    uninterrupted run's, and the store holds the finished sample run."""
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.infer.engine import ModelGenerator, load_for_inference
    from kaggle_t2sql.kaggle.bundle import verify_bundle
    from kaggle_t2sql.kaggle.store_uri import open_store
    from kaggle_t2sql.eval.sampling import SampleSettings, read_records, run_sample

    cfg = build_config("tiny")
    settings = SampleSettings(split="train", limit=4, samples=2, temperature=0.8, max_new_tokens=8, save_every=1)
    model, tokenizer = load_for_inference(cfg, None)
    generator = ModelGenerator(model, tokenizer, settings.max_new_tokens, batch_size=1)
    quiet = lambda *a, **k: None  # noqa: E731
    run_sample(cfg, settings, None, tmp_path / "whole", generator, tokenizer, quiet)

    store = open_store(f"local:{tmp_path / 'store'}")
    with pytest.raises(_Killed):
        run_sample(cfg, settings, None, tmp_path / "session1", _CutAfter(generator, 2), tokenizer, quiet,
                   store=store, name="samples-1")
    assert store.latest("samples-1")["global_step"] == 2 and not store.latest("samples-1")["finished"]
    lines = []
    with pytest.warns(UserWarning, match="push to .* failed .connection reset"):
        report = run_sample(cfg, settings, None, tmp_path / "session2", _CutAfter(generator, 2), tokenizer,
                            lambda *a, **k: lines.append(a[0]), store=_FailingPushes(store, 1), name="samples-1")
    assert lines[0] == f"sample: {store.uri} holds 2 of 4 questions of samples-1"
    assert report["sampled_this_session"] == 2 * 2  # only the two questions left were sampled
    for name in OUTPUTS:
        assert (tmp_path / "session2" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert [r["index"] for r in read_records(tmp_path / "session2" / "samples.jsonl")] == [0, 1, 2, 3]
    entry = store.latest("samples-1")
    assert entry["finished"] and entry["global_step"] == 4 and entry["kind"] == "sample"
    pulled = store.collect(tmp_path / "pulled", only={"samples-1"})["samples-1"]
    assert verify_bundle(pulled) == []
    assert (pulled / "samples.jsonl").read_bytes() == (tmp_path / "whole" / "samples.jsonl").read_bytes()
    # other settings under the same name are refused before any sampling
    other = SampleSettings(split="train", limit=4, samples=2, temperature=0.5, max_new_tokens=8, save_every=1)
    from kaggle_t2sql.errors import ConfigError

    with pytest.raises(ConfigError, match="holds sample run 'samples-1' with other settings .settings differ"):
        run_sample(cfg, other, None, tmp_path / "session3", generator, tokenizer, quiet, store=store, name="samples-1")


class _Slow:
    """A generator that takes `seconds` per question (a long generation on a T4)."""

    def __init__(self, inner, seconds):
        self.inner, self.seconds = inner, seconds

    def generate(self, *args, **kwargs):
        time.sleep(self.seconds)
        return self.inner.generate(*args, **kwargs)


def test_sessions_end_at_their_question_budget_or_deadline_saved_and_pushed_and_the_next_carries_on(tmp_path):
    """A sample session (a Kaggle notebook's) stops at a question boundary when `session_questions` are done or
    the longest question so far would not end before its deadline; what it sampled is saved and pushed even
    between saves. Four sessions in fresh folders through a store give the files of one uninterrupted run, the
    store counts the sessions that sampled, and `sync pull`'s reader writes the same derived files."""
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.data import bundled
    from kaggle_t2sql.eval.sampling import SampleSettings, read_records, run_sample
    from kaggle_t2sql.kaggle.store_uri import open_store
    from kaggle_t2sql.train.model import load_tokenizer

    cfg = build_config("tiny")
    settings = SampleSettings(split="train", limit=5, samples=3, temperature=0.8, max_new_tokens=8, save_every=4)
    model, tokenizer = _ScriptedModel(bundled.load_examples("train")[:5]), load_tokenizer(cfg.model)
    quiet = lambda *a, **k: None  # noqa: E731
    whole = run_sample(cfg, settings, None, tmp_path / "whole", model, tokenizer, quiet)
    assert whole["finished"] and whole["stop_reason"] == "finished" and whole["done"] == 5

    store = open_store(f"local:{tmp_path / 'store'}")
    first = run_sample(cfg, settings, None, tmp_path / "s1", model, tokenizer, quiet, store=store, name="samples",
                       session_questions=2)  # 2 questions, fewer than save_every: saved and pushed at the end
    assert (first["stop_reason"], first["start_done"], first["done"], first["finished"]) == ("budget", 0, 2, False)
    assert (store.latest("samples")["global_step"], store.latest("samples")["sessions"]) == (2, 1)
    versions = len(store.versions())
    late = run_sample(cfg, settings, None, tmp_path / "s2", model, tokenizer, quiet, store=store, name="samples",
                      deadline=time.time() - 1)  # started past its deadline: samples nothing, pushes nothing
    assert (late["stop_reason"], late["done"], late["sampled_this_session"]) == ("budget", 2, 0)
    assert len(store.versions()) == versions
    slow = run_sample(cfg, settings, None, tmp_path / "s3", _Slow(model, 1.5), tokenizer, quiet, store=store,
                      name="samples", deadline=time.time() + 3.5)  # one 1.5-s question; a second would end past it
    assert (slow["stop_reason"], slow["start_done"], slow["done"]) == ("budget", 2, 3)
    last = run_sample(cfg, settings, None, tmp_path / "s4", model, tokenizer, quiet, store=store, name="samples")
    assert (last["stop_reason"], last["start_done"], last["done"], last["finished"]) == ("finished", 3, 5, True)
    assert [r["index"] for r in read_records(tmp_path / "s4" / "samples.jsonl")] == [0, 1, 2, 3, 4]
    for name in OUTPUTS:
        assert (tmp_path / "s4" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    entry = store.latest("samples")
    assert (entry["global_step"], entry["finished"], entry["sessions"]) == (5, True, 3)  # s2 sampled nothing
    from kaggle_t2sql.cli import main  # `sync pull` of the store's only run, a sample run: its files

    assert main(["sync", "pull", "--store", store.uri, "--output-dir", str(tmp_path / "pulled")]) == 0
    pulled = json.loads((tmp_path / "pulled" / "report.json").read_text())
    assert pulled["done"] == pulled["total"] == 5 and pulled["finished"]
    for name in OUTPUTS:
        assert (tmp_path / "pulled" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_a_sample_run_carries_on_wherever_its_data_is_mounted_but_not_on_other_questions(tmp_path):
    """Each Kaggle session mounts the data under another path: the run is keyed by its questions' content, not by
    the path, so the next session carries on; other questions under the same run name are refused."""
    import shutil

    from kaggle_t2sql.config import StageConfig
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.data.readers import read_jsonl
    from kaggle_t2sql.errors import ConfigError
    from kaggle_t2sql.eval.sampling import SampleSettings, run_sample
    from kaggle_t2sql.kaggle.prepare import write_subset
    from kaggle_t2sql.kaggle.store_uri import open_store
    from kaggle_t2sql.train.model import load_tokenizer

    write_subset(StageConfig(source="bundled", limit=3), tmp_path / "mount-a", seed=1)
    shutil.copytree(tmp_path / "mount-a", tmp_path / "mount-b")
    cfg, store = build_config("tiny"), open_store(f"local:{tmp_path / 'store'}")
    tokenizer, quiet = load_tokenizer(cfg.model), (lambda *a, **k: None)

    def session(mount, out, **kw):
        settings = SampleSettings(data="jsonl", data_path=str(tmp_path / mount / "pairs.jsonl"), samples=2,
                                  temperature=0.8, max_new_tokens=8)
        model = _ScriptedModel(read_jsonl(settings.data_path))
        return run_sample(cfg, settings, None, tmp_path / out, model, tokenizer, quiet, store=store, name="s", **kw)

    assert session("mount-a", "s1", session_questions=2)["done"] == 2
    assert (session("mount-b", "s2")["start_done"], store.latest("s")["global_step"]) == (2, 3)
    lines = (tmp_path / "mount-b" / "pairs.jsonl").read_text().splitlines()
    (tmp_path / "mount-b" / "pairs.jsonl").write_text("\n".join(lines[1:] + lines[:1]) + "\n")  # other order
    with pytest.raises(ConfigError, match="holds sample run 's' with other settings .questions differ"):
        session("mount-b", "s3")
