"""Training methods dpo / orpo / grpo on TRL: config checks, TRL's unsafe casts undone, exact resume across a
real SIGTERM and a new process, and the method's numbers in the ledger and `status --json`."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kaggle_t2sql.config_overrides import build_config
from kaggle_t2sql.errors import ConfigError

DEMO_PAIRS = [  # shaped like a `sample` run's pairs.jsonl (prompt + two completions)
    {"prompt": "<|im_start|>user\nHow many books?<|im_end|>\n<|im_start|>assistant\n",
     "chosen": "\n</think>\n<answer>\n```sql\nSELECT count(*) FROM books\n```\n</answer>",
     "rejected": "\n</think>\n<answer>\n```sql\nSELECT count(*) FROM authors\n```\n</answer>"},
    {"prompt": "<|im_start|>user\nList titles.<|im_end|>\n<|im_start|>assistant\n",
     "chosen": "\n</think>\n<answer>\n```sql\nSELECT title FROM books\n```\n</answer>",
     "rejected": "\n</think>\n<answer>\n```sql\nSELECT name FROM books\n```\n</answer>"},
]


def write_pairs(path: Path) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in DEMO_PAIRS))
    return path


def test_method_settings_are_checked():
    with pytest.raises(ConfigError, match="multiple of grpo.num_generations"):
        build_config("tiny", set_args=["training.method=grpo", "grpo.num_generations=4", "training.batch_size=2"])
    with pytest.raises(ConfigError, match="source 'pairs'"):
        build_config("tiny", set_args=["training.method=dpo"])
    with pytest.raises(ConfigError, match="feeds training.method=dpo or orpo"):
        build_config("tiny", set_args=["data.stages.0.source=pairs"])
    with pytest.raises(ConfigError, match="dpo.beta"):
        build_config("tiny", set_args=["data.stages.0.source=pairs", "training.method=dpo", "dpo.beta=0"])
    build_config("tiny", set_args=["training.method=grpo", "grpo.num_generations=2"])


def test_sft_fingerprint_is_unchanged_by_the_method_settings_but_the_method_and_its_settings_count():
    sft = build_config("tiny")
    assert sft.fingerprint() == build_config("tiny", set_args=["grpo.beta=0.5", "dpo.beta=0.3"]).fingerprint()
    grpo = build_config("tiny", set_args=["training.method=grpo", "grpo.num_generations=2"])
    assert grpo.fingerprint() != sft.fingerprint()
    assert grpo.fingerprint() != build_config("tiny", set_args=["training.method=grpo", "grpo.num_generations=2",
                                                                 "grpo.beta=0.5"]).fingerprint()
    assert sft.fingerprint() != build_config("tiny", set_args=["training.init_adapter=/a/checkpoint-8"]).fingerprint()
    # a run made before methods existed (no such keys in its stored config) keeps its fingerprint
    from kaggle_t2sql.config import training_math

    old = sft.to_dict()
    for key in ("grpo", "dpo", "orpo"):
        old.pop(key)
    old["training"].pop("method"), old["training"].pop("init_adapter")
    assert training_math(old) == training_math(sft.to_dict())


def test_grpo_settings_that_make_resume_inexact_are_refused():
    from trl import GRPOConfig

    from kaggle_t2sql.train.methods import check_exact_resume

    common = dict(output_dir="/tmp/x", per_device_train_batch_size=2, gradient_accumulation_steps=2, num_generations=2,
                  use_cpu=True, bf16=False, report_to="none")
    check_exact_resume(GRPOConfig(**common, steps_per_generation=2))
    with pytest.raises(ConfigError, match="steps_per_generation .4. != gradient_accumulation_steps .2."):
        check_exact_resume(GRPOConfig(**common, steps_per_generation=4))
    with pytest.raises(ConfigError, match="num_iterations .2. != 1.*not saved in checkpoints"):
        check_exact_resume(GRPOConfig(**common, steps_per_generation=2, num_iterations=2))


def _trainable_dtypes(model):
    return {p.dtype for p in model.parameters() if p.requires_grad}


@pytest.mark.parametrize("method", ["dpo", "grpo"])
def test_trl_casts_lora_to_bf16_and_the_project_casts_it_back_with_its_own_unsafe_defaults_overridden(tmp_path, method):
    from kaggle_t2sql.train.methods import LearningMethod, method_arguments, trainer_class
    from kaggle_t2sql.train.model import build_model, load_tokenizer
    from kaggle_t2sql.plan import make_plan
    from kaggle_t2sql.train.hf_trainer import hf_trainer_class, training_arguments

    sets = [f"training.method={method}", "training.max_steps=1", "data.stages.0.limit=2", "training.batch_size=2",
            "training.gradient_accumulation_steps=1"]
    sets += ["grpo.num_generations=2"] if method == "grpo" else [
        "data.stages.0.source=pairs", f"data.stages.0.path={write_pairs(tmp_path / 'pairs.jsonl')}"]
    cfg = build_config("tiny", set_args=sets)
    tokenizer = load_tokenizer(cfg.model)
    learning = LearningMethod(cfg)
    learning.build_rows(tokenizer)
    plan = make_plan(cfg.training, learning.plan_rows, {}, 1, cfg.fingerprint())
    args = training_arguments(cfg, tmp_path, plan)
    trl_args = method_arguments(cfg, args)
    assert (trl_args.bf16, trl_args.gradient_checkpointing) == (False, False)  # TRL's defaults are True
    if method == "dpo":
        assert trl_args.max_length == cfg.data.max_seq_length  # TRL's default 1024 would cut these prompts
    # what TRL does on its own: 4-bit base -> LoRA weights in bf16 (the fact this project undoes)
    from datasets import Dataset

    from kaggle_t2sql.train.methods import planned_rows, reward_fn

    model = build_model(cfg)
    extra = {"reward_funcs": [reward_fn(None)]} if method == "grpo" else {}
    raw = trainer_class(method, hf_trainer_class)(model=model, args=trl_args, processing_class=tokenizer,
                                                   train_dataset=Dataset.from_list(planned_rows(learning.data, plan)),
                                                   **extra)
    assert torch.bfloat16 in _trainable_dtypes(raw.model)
    # the project's trainer: every trainable weight back in fp32
    trainer = learning.build_trainer(hf_trainer_class, build_model(cfg), args, plan, [], tokenizer)
    assert _trainable_dtypes(trainer.model) == {torch.float32}
    if method == "dpo":
        assert "ref" in trainer.model.peft_config and not any(
            p.requires_grad for n, p in trainer.model.named_parameters() if ".ref." in n)
        trainer._save(str(tmp_path / "saved"))  # what a checkpoint (and so eval / export) gets: the policy alone
        assert (tmp_path / "saved" / "adapter_model.safetensors").is_file() and not (tmp_path / "saved" / "ref").exists()
    learning.close()


# ---------------------------------------------------------------- real runs from a demo adapter (slow)

def _sets(method, adapter, pairs):
    return [f"training.method={method}", f"training.init_adapter={adapter}", "training.max_steps=3",
            "training.save_steps=1", "training.batch_size=2", "training.gradient_accumulation_steps=2",
            "data.stages.0.limit=2", "data.stages.0.source=pairs", f"data.stages.0.path={pairs}", "lora.dropout=0.1"]


def _train(run_dir, sets):
    cmd = [sys.executable, "-m", "kaggle_t2sql", "train", "--preset", "demo", "--output-dir", str(run_dir), "--json",
           "--no-progress"]
    for pair in sets:
        cmd += ["--set", pair]
    return cmd


def _result(out):
    return json.loads(out[out.index("{"):])


def _cut_by_sigterm_then_resume(run_dir, sets):
    """A first process gets a real SIGTERM once its first checkpoint exists; a second process finishes the run."""
    err = open(Path(run_dir).parent / f"{Path(run_dir).name}-first.err", "w+")
    proc = subprocess.Popen(_train(run_dir, sets), stdout=subprocess.PIPE, stderr=err, text=True)
    deadline = time.monotonic() + 900
    while not list(Path(run_dir).glob("checkpoints/checkpoint-*")) and time.monotonic() < deadline:
        assert proc.poll() is None, open(err.name).read()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, open(err.name).read()[-3000:]
    first = _result(out)
    assert (first["status"], first["stop_reason"]) == ("paused", "signal") and first["end_step"] < 3, first
    second = subprocess.run(_train(run_dir, sets), capture_output=True, text=True, timeout=1800)
    assert second.returncode == 0, second.stderr[-2000:]
    done = _result(second.stdout)
    assert done["status"] == "finished" and done["start_step"] == first["end_step"], done
    return first, done


def _assert_same_run(a, b, step=3):
    wa = load_file(str(Path(a) / "checkpoints" / f"checkpoint-{step}" / "adapter_model.safetensors"))
    wb = load_file(str(Path(b) / "checkpoints" / f"checkpoint-{step}" / "adapter_model.safetensors"))
    assert wa.keys() == wb.keys() and wa
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    la = [(e["step"], e["loss"]) for e in json.loads((Path(a) / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    lb = [(e["step"], e["loss"]) for e in json.loads((Path(b) / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert la == lb and len(la) == step


def _status(run_dir):
    out = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "status", "--output-dir", str(run_dir), "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


# GRPO's exact resume across processes, its ledger numbers (`status --json`: reward, zero_std_share) and its start
# from a trained adapter are held by the emulated Kaggle chain: tests/test_kaggle_e2e_grpo.py (three or more
# sessions, each a new kernel process, bit-identical to an uninterrupted run). SIGTERM on a TRL trainer: DPO below.


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_dpo_cut_by_sigterm_and_resumed_in_a_new_process_ends_bit_identical_with_policy_only_checkpoints(
        tmp_path, demo_adapter):
    sets = _sets("dpo", demo_adapter, write_pairs(tmp_path / "pairs.jsonl"))
    reference = subprocess.run(_train(tmp_path / "reference", sets), capture_output=True, text=True, timeout=1800)
    assert reference.returncode == 0, reference.stderr[-2000:]
    _cut_by_sigterm_then_resume(tmp_path / "cut", sets)
    _assert_same_run(tmp_path / "cut", tmp_path / "reference")
    checkpoint = tmp_path / "cut" / "checkpoints" / "checkpoint-3"
    assert not (checkpoint / "ref").exists()  # the frozen reference copy is not the policy
    assert not any(".ref." in k for k in load_file(str(checkpoint / "adapter_model.safetensors")))
    sessions = _status(tmp_path / "cut")["sessions"]
    assert [s["method"] for s in sessions] == ["dpo", "dpo"]
    assert all(0.0 <= s["reward_accuracy"] <= 1.0 and "reward_margin" in s for s in sessions)


def test_the_loss_plot_of_a_grpo_run_gets_a_reward_panel(tmp_path):
    from PIL import Image

    from kaggle_t2sql.train.plots import plot_loss_curve

    sft = [{"step": s, "loss": 1.0 / s} for s in (1, 2, 3)]
    grpo = [{"step": s, "loss": 0.01, "reward": 0.1 * s} for s in (1, 2, 3)]
    plain, with_reward = plot_loss_curve(sft, [2], tmp_path / "a.png"), plot_loss_curve(grpo, [2], tmp_path / "b.png")
    assert Image.open(plain).size == (800, 400)
    assert Image.open(with_reward).size == (800, 600)  # a second panel: the mean reward per step


@pytest.mark.slow
def test_orpo_trains_sessions_on_pairs_and_records_its_numbers(tmp_path):
    from kaggle_t2sql.train.trainer import ResumableTrainer

    cfg = build_config("tiny", set_args=[
        "training.method=orpo", "data.stages.0.source=pairs", f"data.stages.0.path={write_pairs(tmp_path / 'pairs.jsonl')}",
        "training.max_steps=2", "training.batch_size=2", "training.gradient_accumulation_steps=1"])
    result = ResumableTrainer(cfg, tmp_path / "run", progress=False).run()
    assert (result.status, result.end_step) == ("finished", 2)
    [session] = json.loads((tmp_path / "run" / "run.json").read_text())["sessions"]
    assert session["method"] == "orpo" and 0.0 <= session["reward_accuracy"] <= 1.0 and "reward_margin" in session


def test_init_adapter_from_a_run_of_the_store_is_pulled_and_refused_when_absent_or_unfinished(tmp_path):
    """training.init_adapter=run:NAME: the finished run NAME's final adapter, pulled through the store."""
    from kaggle_t2sql.train.init_adapter import load_configured_init_adapter
    from kaggle_t2sql.train.model import build_model
    from kaggle_t2sql.train.trainer import ResumableTrainer

    store = f"local:{tmp_path / 'store'}"
    common = [f"store.uri={store}", "training.batch_size=2", "data.stages.0.limit=4", "training.save_steps=1"]
    sft = build_config("tiny", set_args=[*common, "run_name=sft-first", "training.max_steps=2"])
    ResumableTrainer(sft, tmp_path / "sft", progress=False, callbacks=[_StopAfterFirstStep()]).run()  # pushed at step 1
    unfinished = build_config("tiny", set_args=[*common, "training.init_adapter=run:sft-first"])
    with pytest.raises(ConfigError, match=r"run 'sft-first' .* is at step 1 of 2, not finished"):
        load_configured_init_adapter(build_model(unfinished), unfinished)
    assert ResumableTrainer(sft, tmp_path / "sft", progress=False).run().status == "finished"

    cfg = build_config("tiny", set_args=[*common, "run_name=grpo-next", "training.method=grpo", "grpo.num_generations=2",
                                         "training.init_adapter=run:sft-first"])
    model = build_model(cfg)
    assert "sft-first" in load_configured_init_adapter(model, cfg)
    trained = load_file(str(tmp_path / "sft" / "checkpoints" / "checkpoint-2" / "adapter_model.safetensors"))
    from peft import get_peft_model_state_dict

    loaded = get_peft_model_state_dict(model, adapter_name="default")
    assert trained.keys() == loaded.keys()
    assert all(torch.equal(trained[k], loaded[k].float()) for k in trained)
    assert any(trained[k].abs().sum() > 0 for k in trained if "lora_B" in k)  # really trained, not a fresh LoRA
    assert cfg.fingerprint() != build_config("tiny", set_args=[*common, "run_name=grpo-next", "training.method=grpo",
                                                               "grpo.num_generations=2",
                                                               "training.init_adapter=run:other"]).fingerprint()

    absent = build_config("tiny", set_args=[*common, "training.init_adapter=run:nope"])
    with pytest.raises(ConfigError, match=r"holds no run 'nope' \(its runs: sft-first\)"):
        load_configured_init_adapter(build_model(absent), absent)
    with pytest.raises(ConfigError, match="store.uri is empty"):
        build_config("tiny", set_args=["training.init_adapter=run:sft-first"])


class _StopAfterFirstStep:
    def __new__(cls):
        from transformers import TrainerCallback

        class Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                control.should_save = control.should_training_stop = True

        return Stop()
