"""Exact resume: sessions cut by signal, budget or SIGKILL end bit-identical to one uninterrupted run."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from kaggle_t2sql.data import bundled
from kaggle_t2sql.checkpoints import KaggleCheckpointManager
from kaggle_t2sql.config_overrides import build_config
from kaggle_t2sql.errors import ConfigError
from kaggle_t2sql.train.trainer import ResumableTrainer

MAX_STEPS = 8
SMALL = [
    "data.stages.0.limit=16",
    "data.max_seq_length=2048",
    "training.batch_size=1",
    "training.gradient_accumulation_steps=2",  # with dropout: a resume that loses the RNG stream diverges
    "lora.dropout=0.1",
    f"training.max_steps={MAX_STEPS}",
    "training.save_steps=2",
    "training.keep_checkpoints=3",
]


def small_config(*extra):
    return build_config("tiny", set_args=[*SMALL, *extra])


class CutAt(TrainerCallback):
    """Sends this process a real SIGTERM at the end of the given steps, as Kaggle would at the limit."""

    def __init__(self, steps):
        self.steps = set(steps)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.steps:
            os.kill(os.getpid(), signal.SIGTERM)


def adapter(run_dir, step=MAX_STEPS):
    return load_file(str(Path(run_dir) / "checkpoints" / f"checkpoint-{step}" / "adapter_model.safetensors"))


def losses(run_dir, step=MAX_STEPS):
    state = json.loads((Path(run_dir) / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").read_text())
    return [(e["step"], e["loss"]) for e in state["log_history"] if "loss" in e]


def assert_identical(run_dir, reference):
    a, b = adapter(run_dir), adapter(reference)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert losses(run_dir) == losses(reference)


def run_until_finished(cfg, run_dir, max_sessions=20, **kwargs):
    results = []
    for _ in range(max_sessions):
        results.append(ResumableTrainer(cfg, run_dir, progress=False, **kwargs).run())
        if results[-1].status == "finished":
            return results
    raise AssertionError(f"not finished after {max_sessions} sessions")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    (result,) = run_until_finished(small_config(), run_dir)
    assert (result.status, result.stop_reason, result.end_step) == ("finished", "finished", MAX_STEPS)
    return run_dir


def test_uninterrupted_run_leaves_ledger_plot_and_tensorboard(reference):
    manager = KaggleCheckpointManager(reference)
    status = manager.status()
    assert status["finished"] and status["global_step"] == MAX_STEPS
    assert [s["stop_reason"] for s in status["sessions"]] == ["finished"]
    assert len(losses(reference)) == MAX_STEPS  # one loss per step
    assert manager.plot_path.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in manager.checkpoints()] == ["checkpoint-8", "checkpoint-6", "checkpoint-4"]  # keep 3


@pytest.mark.parametrize("cuts", [[3], [1, 4, 6]], ids=["1-cut", "3-cuts"])
def test_exact_resume_after_signal_cuts(tmp_path, reference, cuts):
    cfg = small_config()
    results = []
    for i in range(len(cuts) + 1):
        cb = [CutAt([cuts[i]])] if i < len(cuts) else []
        results.append(ResumableTrainer(cfg, tmp_path, progress=False, callbacks=cb).run())
    assert [(r.start_step, r.end_step, r.stop_reason) for r in results] == [
        (start, end, "signal") for start, end in zip([0, *cuts[:-1]], cuts)
    ] + [(cuts[-1], MAX_STEPS, "finished")]
    assert_identical(tmp_path, reference)
    sessions = KaggleCheckpointManager(tmp_path).status()["sessions"]
    assert [(s["start_step"], s["end_step"]) for s in sessions] == [(r.start_step, r.end_step) for r in results]


def test_time_budget_cuts_every_session_and_still_ends_identical(tmp_path, reference):
    cfg = small_config("budget.session_minutes=0.001")  # 0.06 s: every session stops after its first step
    results = run_until_finished(cfg, tmp_path)
    assert len(results) == MAX_STEPS
    assert all(r.stop_reason == "budget" for r in results[:-1]) and results[-1].stop_reason == "finished"
    assert all(r.end_step == r.start_step + 1 for r in results)
    assert_identical(tmp_path, reference)


def test_a_step_budget_cuts_each_session_after_that_many_steps_and_still_ends_identical(tmp_path, reference):
    """budget.session_steps=3: sessions of 3 steps whatever the clock says (a chain's dry run), each resumed;
    the setting is not part of the run's fingerprint, so the last session, without it, carries the run on to
    its end, which is the uninterrupted one's."""
    dry_run = small_config("budget.session_steps=3")
    results = [ResumableTrainer(dry_run, tmp_path, progress=False).run() for _ in range(2)]
    results.append(ResumableTrainer(small_config(), tmp_path, progress=False).run())
    assert [(r.start_step, r.end_step, r.stop_reason) for r in results] == [
        (0, 3, "budget"), (3, 6, "budget"), (6, MAX_STEPS, "finished")]
    assert_identical(tmp_path, reference)


def test_budget_stops_before_the_deadline_with_a_checkpoint(tmp_path):
    # one micro-batch a step (the budget is about time, not RNG): the step-time estimate stays close on a busy machine
    # 30 s: the session's set-up (data, schema texts, model) must leave room for more than one step on a loaded machine
    # max_steps far out of reach: an idle fast machine ran all of 400 steps inside the 30 s (finished, not budget)
    cfg = small_config("training.max_steps=100000", "budget.session_minutes=0.5", "training.gradient_accumulation_steps=1")
    start = time.monotonic()
    result = ResumableTrainer(cfg, tmp_path, progress=False, session_start=start).run()
    assert result.stop_reason == "budget" and result.status == "paused" and result.end_step > 1
    assert time.monotonic() - start <= 30  # saved and returned inside the 30 s budget
    assert result.checkpoint.endswith(f"checkpoint-{result.end_step}")


def test_corrupt_checkpoints_are_skipped_with_a_warning(tmp_path, reference):
    cfg = small_config()
    ResumableTrainer(cfg, tmp_path, progress=False, callbacks=[CutAt([6])]).run()
    manager = KaggleCheckpointManager(tmp_path)
    newest = manager.checkpoints()[0]
    assert newest.name == "checkpoint-6"
    blob = newest / "adapter_model.safetensors"
    blob.write_bytes(blob.read_bytes()[:-7] + b"garbage")  # same size, wrong bytes
    half = tmp_path / "checkpoints" / "checkpoint-7"  # a save that never finished: no checkpoint.json
    half.mkdir()
    (half / "trainer_state.json").write_text("{}")
    with pytest.warns(UserWarning, match="checkpoint-6: adapter_model.safetensors does not match its sha256"):
        assert manager.latest_valid().name == "checkpoint-4"
    results = run_until_finished(cfg, tmp_path)
    assert results[0].start_step == 4
    assert_identical(tmp_path, reference)


def files_of(run_dir):
    return {p: p.read_bytes() for p in Path(run_dir).rglob("*") if p.is_file()}


def test_changed_config_in_same_run_folder_is_refused(tmp_path):
    ResumableTrainer(small_config(), tmp_path, progress=False, callbacks=[CutAt([1])]).run()
    before = files_of(tmp_path)
    with pytest.raises(ConfigError, match=r"other settings or data \(changed: training.learning_rate\).*new run_name / --output-dir"):
        ResumableTrainer(small_config("training.learning_rate=0.1"), tmp_path, progress=False).run()
    assert files_of(tmp_path) == before


def test_changed_data_is_refused_and_the_same_data_elsewhere_resumes(tmp_path):
    """Resume skips by position in the stream: a stream whose rows changed is refused, by content, not path."""
    lines = (bundled.data_dir() / "train.jsonl").read_text().splitlines()[:16]

    def session(pairs, *cuts):
        cfg = small_config("data.stages.0.source=jsonl", f"data.stages.0.path={pairs}", f"data.stages.0.db_root={bundled.db_root()}")
        return ResumableTrainer(cfg, tmp_path / "run", progress=False, callbacks=[CutAt(cuts)]).run()

    first, moved = tmp_path / "a" / "pairs.jsonl", tmp_path / "b" / "pairs.jsonl"
    for path in (first, moved):
        path.parent.mkdir()
        path.write_text("\n".join(lines) + "\n")
    assert session(first, 1).end_step == 1
    assert (session(moved, 2).start_step, KaggleCheckpointManager(tmp_path / "run").status()["global_step"]) == (1, 2)
    edited = json.loads(lines[5])
    moved.write_text("\n".join([*lines[:5], json.dumps({**edited, "question": edited["question"] + " Please."}), *lines[6:]]))
    before = files_of(tmp_path / "run")
    with pytest.raises(ConfigError, match=r"\(changed: data rows\)"):
        session(moved)
    assert files_of(tmp_path / "run") == before


def _train_cmd(run_dir):
    args = [sys.executable, "-m", "kaggle_t2sql", "train", "--preset", "tiny", "--output-dir", str(run_dir), "--json", "--no-progress"]
    for pair in SMALL:
        args += ["--set", pair]
    return args


def test_sigterm_in_a_real_process_saves_and_exits_cleanly(tmp_path):
    proc = subprocess.Popen(_train_cmd(tmp_path) + ["--set", "training.max_steps=400"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    manager = KaggleCheckpointManager(tmp_path)
    deadline = time.monotonic() + 120
    while not manager.checkpoints() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    result = json.loads(out[out.index("{"):])
    assert result["stop_reason"] == "signal" and result["status"] == "paused"
    assert manager.latest_valid().name == f"checkpoint-{result['end_step']}"
    assert manager.status()["sessions"][-1]["stop_reason"] == "signal"


def test_sigkill_at_random_moments_always_resumes_identical(tmp_path, reference):
    """7 trials: kill -9 the instant a save starts (5) or at a random moment (2), then resume."""
    rng = random.Random(1234)
    kinds = ["during-save"] * 5 + ["random"] * 2
    rng.shuffle(kinds)
    killed_mid_save = 0
    for trial, kind in enumerate(kinds):
        run_dir = tmp_path / f"trial-{trial}"
        manager = KaggleCheckpointManager(run_dir)
        proc = subprocess.Popen(_train_cmd(run_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kind == "random":
            time.sleep(rng.uniform(4.0, 9.0))
        else:
            saves_to_skip = rng.randrange(3)
            seen, deadline = set(), time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                staging = {p.name for p in run_dir.glob("checkpoints/.staging-*")}
                if staging - seen:
                    seen |= staging
                    if len(seen) > saves_to_skip:
                        break
                time.sleep(0.001)
        proc.kill()
        proc.wait()
        killed_mid_save += bool(list(run_dir.glob("checkpoints/.staging-*")))
        before = manager.latest_valid()
        results = run_until_finished(small_config(), run_dir)
        expected_start = int(before.name.split("-")[1]) if before else 0
        assert results[0].start_step == expected_start, (trial, kind)
        assert not list(run_dir.glob("checkpoints/.staging-*"))
        assert_identical(run_dir, reference)
        sessions = manager.status()["sessions"]
        if len(sessions) > 1:
            assert sessions[0]["stop_reason"] == "killed"
    assert killed_mid_save >= 3  # the half-written saves were really there, and were never chosen


def test_no_packing_mode_trains_and_resumes(tmp_path):
    cfg = small_config("data.packing=false", "training.batch_size=2", "training.max_steps=3")
    first = ResumableTrainer(cfg, tmp_path, progress=False, callbacks=[CutAt([1])]).run()
    second = ResumableTrainer(cfg, tmp_path, progress=False).run()
    assert (first.end_step, second.start_step, second.end_step, second.status) == (1, 1, 3, "finished")
    assert second.tokens_seen > 0


def test_optimizer_is_fused_adamw_on_a_gpu_and_8bit_stays_an_option():
    from transformers.training_args import OptimizerNames

    from kaggle_t2sql.train.hf_trainer import _optimizer

    assert _optimizer("adamw_torch", on_gpu=True) == OptimizerNames.ADAMW_TORCH_FUSED.value
    assert _optimizer("paged_adamw_8bit", on_gpu=True) == OptimizerNames.PAGED_ADAMW_8BIT.value
    assert _optimizer("paged_adamw_8bit", on_gpu=False) == _optimizer("adamw_torch", on_gpu=False) == "adamw_torch"


# ---------------------------------------------------------------- faults during training: exceptions, non-finite steps

class FaultAt(TrainerCallback):
    """A real fault inside the model at the given steps (1-based: the step about to run), through a forward hook
    on its output layer: `raise_` raises there (as a CUDA OOM or a driver error does mid-forward); otherwise the
    logits become inf, as an fp16 overflow makes them, so the loss and every gradient are NaN."""

    def __init__(self, steps, raise_: BaseException | None = None):
        self.steps, self.raise_, self.handle = set(steps), raise_, None

    def _hook(self, module, inputs, output):
        if self.raise_ is not None:
            raise self.raise_
        return output * float("inf")

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step + 1 in self.steps:
            self.handle = model.get_output_embeddings().register_forward_hook(self._hook)

    def on_step_end(self, args, state, control, **kwargs):
        if self.handle is not None:
            self.handle.remove()
            self.handle = None


def ledger(run_dir):
    return KaggleCheckpointManager(run_dir).status()["sessions"]


@pytest.mark.slow
def test_an_exception_mid_training_still_pushes_the_newest_checkpoint_and_says_why(tmp_path, reference):
    """OOM in the forward of step 5: the session still pushes checkpoint-4 (queued behind the push spacing, so only
    the final push carries it) and waits for it; the result and the ledger say why; the next session goes on."""
    from kaggle_t2sql.kaggle.stores import LocalStore
    from kaggle_t2sql.train.session_result import SessionFailed

    store = tmp_path / "store"
    cfg = small_config(f"store.uri=local:{store}", f"store.input_root={tmp_path / 'none'}", "store.push_interval_minutes=60")
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(SessionFailed, match=r"training stopped by OutOfMemoryError: CUDA out of memory\. Tried to allocate "
                                            r"2\.00 GiB; the run keeps step 4 \(checkpoint-4\): fix the cause") as failed:
        ResumableTrainer(cfg, tmp_path / "run", progress=False, callbacks=[FaultAt([5], raise_=oom)]).run()
    assert failed.value.__cause__ is oom
    result = failed.value.result
    assert (result.status, result.stop_reason, result.start_step, result.end_step, result.not_pushed) == ("failed", "error", 0, 4, [])
    assert result.error == "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB" and result.tokens_seen > 0
    assert LocalStore(store).latest(cfg.run_name)["global_step"] == 4  # pushed and waited for
    (session,) = ledger(tmp_path / "run")
    assert (session["stop_reason"], session["end_step"], session["tokens_seen"], session["error"]) == (
        "error", 4, result.tokens_seen, result.error)
    assert session["end_time"] is not None
    machine = tmp_path / "next-machine"  # a fresh disk: only the store carries the run on
    (nxt,) = run_until_finished(cfg, machine)
    assert nxt.start_step == 4
    assert_identical(machine, reference)


ONE_MICRO_BATCH = "training.gradient_accumulation_steps=1"  # these tests are about steps, not the RNG stream: half the work


def test_a_few_nonfinite_steps_are_skipped_counted_and_leave_the_adapter_finite(tmp_path):
    cfg = small_config(ONE_MICRO_BATCH, "training.max_steps=6")
    result = ResumableTrainer(cfg, tmp_path, progress=False, callbacks=[FaultAt([3, 5])]).run()
    assert (result.status, result.end_step, result.skipped_steps, result.nonfinite_loss_steps) == ("finished", 6, 2, 2)
    assert "2 step(s) skipped for non-finite gradients, 2 with a non-finite loss" in result.summary()
    (session,) = ledger(tmp_path)
    assert (session["skipped_steps"], session["nonfinite_loss_steps"]) == (2, 2)
    assert all(torch.isfinite(t).all() for t in adapter(tmp_path, 6).values())  # the NaN gradients never reached a weight


@pytest.mark.parametrize("bad_steps, stop_step, why", [
    (range(3, 100), 7, "5 steps in a row had non-finite gradients"),
    (range(2, 100, 2), 10, "5 of this session's 10 steps had non-finite gradients"),
], ids=["5-in-a-row", "over-2-percent"])
def test_too_many_nonfinite_steps_stop_the_session_before_the_adapter_is_ruined(tmp_path, bad_steps, stop_step, why):
    cfg = small_config(ONE_MICRO_BATCH, "training.max_steps=14")  # a guard that never stops ends the run at 14
    result = ResumableTrainer(cfg, tmp_path, progress=False, callbacks=[FaultAt(bad_steps)]).run()
    assert (result.status, result.stop_reason, result.end_step, result.skipped_steps) == ("paused", "nonfinite", stop_step, 5)
    assert result.error.startswith(f"stopped at step {stop_step}: {why} and were skipped") and "learning_rate" in result.error
    assert result.checkpoint.endswith(f"checkpoint-{stop_step}")
    assert all(torch.isfinite(t).all() for t in adapter(tmp_path, stop_step).values())
    (session,) = ledger(tmp_path)
    assert (session["stop_reason"], session["skipped_steps"], session["error"]) == ("nonfinite", 5, result.error)


def test_checkpoints_without_their_run_json_are_never_resumed_under_other_settings(tmp_path):
    """run.json lost: the checkpoint names its run, so a session with other settings cannot silently resume it."""
    first = ResumableTrainer(small_config(ONE_MICRO_BATCH), tmp_path, progress=False, callbacks=[CutAt([1])]).run()
    run_id = json.loads((tmp_path / "run.json").read_text())["run_id"]
    (tmp_path / "run.json").unlink()
    before = files_of(tmp_path)
    with pytest.raises(ConfigError, match=rf"holds checkpoints \(checkpoint-{first.end_step} of run {run_id}\) but no run.json: "
                                          r"their run's settings are unknown, so nothing was trained.*new --output-dir"):
        ResumableTrainer(small_config(ONE_MICRO_BATCH, "training.learning_rate=0.1"), tmp_path, progress=False).run()
    assert files_of(tmp_path) == before


# ---------------------------------------------------------------- paths the tiny preset leaves out

class DropoutMasks(TrainerCallback):
    """Records which inputs one LoRA dropout zeroed, for every micro-batch (the first 4096 values)."""

    def __init__(self):
        self.masks = []

    def _record(self, module, inputs, output):
        self.masks.append(((output == 0) & (inputs[0] != 0)).flatten()[:4096].clone())

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        dropout = next(m for name, m in model.named_modules() if name.endswith("lora_dropout.default"))
        self.handle = dropout.register_forward_hook(self._record)

    def on_train_end(self, args, state, control, **kwargs):
        self.handle.remove()


def test_each_micro_batch_draws_its_own_dropout_mask(tmp_path):
    """Seeded by position, not by one constant: the same seed for every micro-batch would give every row the same
    mask, and still resume exactly (so the resume tests cannot see it)."""
    masks = DropoutMasks()
    ResumableTrainer(small_config("training.max_steps=3"), tmp_path, progress=False, callbacks=[masks]).run()
    assert len(masks.masks) == 6  # 3 steps x 2 micro-batches
    assert all(0.05 < m.float().mean() < 0.15 for m in masks.masks)  # dropout 0.1 at work
    assert len({m.numpy().tobytes() for m in masks.masks}) == 6


class Checkpointed(TrainerCallback):
    """Records whether the model trains with activation checkpointing and how often its layers were recomputed."""

    def __init__(self):
        self.enabled, self.forwards = None, 0

    def _count(self, module, inputs, output):
        self.forwards += 1

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.enabled = model.is_gradient_checkpointing
        self.handle = model.get_decoder().layers[0].input_layernorm.register_forward_hook(self._count)  # checkpointed

    def on_train_end(self, args, state, control, **kwargs):
        self.handle.remove()


@pytest.mark.slow
def test_gradient_checkpointing_trains_and_resumes_exactly(tmp_path, reference):
    """The GPU preset's path (activation checkpointing before LoRA), cut and resumed: the same adapter and losses,
    bit for bit, as the uninterrupted run without it (recomputation replays the dropout masks)."""
    cfg = small_config("training.gradient_checkpointing=true")
    seen = [Checkpointed(), Checkpointed()]
    first = ResumableTrainer(cfg, tmp_path, progress=False, callbacks=[CutAt([3]), seen[0]]).run()
    second = ResumableTrainer(cfg, tmp_path, progress=False, callbacks=[seen[1]]).run()
    assert (first.end_step, second.start_step, second.status) == (3, 3, "finished")
    assert [s.enabled for s in seen] == [True, True]
    assert [s.forwards for s in seen] == [2 * 2 * 3, 2 * 2 * 5]  # every micro-batch's forward ran twice: recomputed
    assert_identical(tmp_path, reference)


def hf_trainer(cfg, run_dir, scaler, callbacks=()):
    """Our HF Trainer subclass, built as ResumableTrainer builds it, with a real GradScaler on the CPU (accelerate
    makes one only for fp16 on a GPU): HF's scaler.pt save and load then run on our checkpoints."""
    from transformers import set_seed

    from kaggle_t2sql.train.callbacks import SessionClock
    from kaggle_t2sql.data.dataset import RowsDataset, build_rows, collator_for
    from kaggle_t2sql.train.model import build_model, load_tokenizer
    from kaggle_t2sql.plan import data_fingerprint, make_plan
    from kaggle_t2sql.train.hf_trainer import hf_trainer_class, training_arguments

    tokenizer = load_tokenizer(cfg.model)
    rows, _ = build_rows(cfg.data, tokenizer, cfg.training.batch_size, progress=False)
    plan = make_plan(cfg.training, len(rows), data_fingerprint(rows, tokenizer), 1, cfg.fingerprint())
    manager = KaggleCheckpointManager(run_dir)
    manager.open_run(cfg.to_dict(), cfg.fingerprint(), plan)
    manager.begin_session(0, "cpu")
    set_seed(cfg.training.seed)
    trainer = hf_trainer_class()(model=build_model(cfg), args=training_arguments(cfg, run_dir, plan),
                                  train_dataset=RowsDataset(rows, plan["max_steps"] * plan["global_batch"]),
                                  data_collator=collator_for(cfg.data, tokenizer), callbacks=list(callbacks))
    trainer.manager, trainer.clock = manager, SessionClock(deadline=time.monotonic() + 3600)
    trainer.accelerator.scaler = scaler
    return trainer


def test_the_gradscaler_state_is_checkpointed_and_restored_on_resume(tmp_path):
    """fp16's loss scale doubles after every good step here and halves on the overflow of step 3 (the scaler, not
    our guard, skips it): resumed from checkpoint-2, the scale goes on from the checkpoint's, not from scratch."""
    import shutil

    from kaggle_t2sql.train.callbacks import NonFiniteStepsCallback
    from kaggle_t2sql.checkpoints import MARKER, sha256_file

    cfg = small_config(ONE_MICRO_BATCH, "training.max_steps=4")

    def scaler():
        return torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=1)

    guard = NonFiniteStepsCallback(scaler=True)
    uninterrupted = hf_trainer(cfg, tmp_path / "a", scaler(), [FaultAt([3]), guard])
    uninterrupted.nonfinite = guard
    uninterrupted.train()
    a = tmp_path / "a" / "checkpoints"
    assert torch.load(a / "checkpoint-2" / "scaler.pt")["scale"] == 2.0**12
    assert torch.load(a / "checkpoint-4" / "scaler.pt")["scale"] == 2.0**12  # 2^12 -> skip: 2^11 -> 2^12
    assert guard.skipped == guard.nonfinite_loss == 1
    marker = json.loads((a / "checkpoint-2" / MARKER).read_text())
    assert marker["files"]["scaler.pt"]["sha256"] == sha256_file(a / "checkpoint-2" / "scaler.pt")

    b = tmp_path / "b"
    shutil.copytree(a / "checkpoint-2", b / "checkpoints" / "checkpoint-2")
    shutil.copy(tmp_path / "a" / "run.json", b / "run.json")
    resumed = hf_trainer(cfg, b, scaler(), [FaultAt([3])])
    resumed.train(resume_from_checkpoint=str(b / "checkpoints" / "checkpoint-2"))
    assert torch.load(b / "checkpoints" / "checkpoint-4" / "scaler.pt") == torch.load(a / "checkpoint-4" / "scaler.pt")
    assert adapter(b, 4).keys() == adapter(tmp_path / "a", 4).keys()
    assert all(torch.equal(adapter(b, 4)[k], adapter(tmp_path / "a", 4)[k]) for k in adapter(b, 4))
