"""What a person sees while training: one bar per session with loss and tokens/s, no raw log dicts, the full
logs in the run folder, and none of the third-party warnings that are not the user's business."""

import json
import logging
import warnings

from kaggle_t2sql.config_overrides import build_config
from kaggle_t2sql.train.console import hf_progress_bars_off
from kaggle_t2sql.train.model import build_model
from kaggle_t2sql.plan import make_plan
from kaggle_t2sql.train.hf_trainer import training_arguments
from kaggle_t2sql.train.trainer import ResumableTrainer

SMALL = ["data.stages.0.limit=8", "data.max_seq_length=2048", "training.batch_size=1", "training.max_steps=4"]


def test_a_session_shows_one_bar_and_logs_every_step_to_the_run_folder(tmp_path, capfd):
    result = ResumableTrainer(build_config("tiny", set_args=SMALL), tmp_path, progress=True).run()
    out, err = capfd.readouterr()
    assert result.end_step == 4
    assert "{'loss'" not in out + err and "'train_runtime'" not in out + err  # no raw HF log dicts
    bar = err.replace("\r", "\n").splitlines()
    assert any("4/4" in line and "loss=" in line and "tok_s=" in line for line in bar)
    logged = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in logged if "loss" in e] == [1, 2, 3, 4]
    assert all("grad_norm" in e and "learning_rate" in e for e in logged if "loss" in e)  # the full dicts


def test_model_building_and_training_arguments_raise_no_deprecation_warnings(tmp_path):
    cfg = build_config("tiny", set_args=["training.gradient_checkpointing=true"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_model(cfg)
        training_arguments(cfg, tmp_path, make_plan(cfg.training, rows=8, data={}, world_size=1, fingerprint="f"))
    assert not [w for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))], [str(w.message) for w in caught]


def test_the_bitsandbytes_cpu_kernel_notice_is_dropped_and_nothing_else(caplog):
    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING):
        logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'.")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


def test_hf_progress_bars_off_restores_the_previous_setting():
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    with hf_progress_bars_off():
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()
