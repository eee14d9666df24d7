"""The training kernel as Kaggle sees it: one spec -> kernel-metadata.json + the notebook's parameters,
`kaggle-init` refusing an inconsistent setup, and pushes whose reply is checked (real kaggle client,
local emulator)."""

import json
import subprocess
import sys

import pytest

from kaggle_t2sql.errors import ConfigError, T2SQLError
from kaggle_t2sql.kaggle.auth import kaggle_api
from kaggle_t2sql.kaggle.init import init_kernel
from kaggle_t2sql.kaggle.kernel import KernelPushRefused, KernelSpec, load_spec, push_kernel, write_kernel_folder

TINY = dict(user="tester", preset="tiny", package_source="kaggle_t2sql", overrides={"training.max_steps": 4})


def injected(folder):
    """The parameters papermill injected into the kernel's notebook, as Kaggle will run them."""
    nb = json.loads((folder / "train.ipynb").read_text())
    (cell,) = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    namespace = {}
    exec("".join(cell["source"]), {"true": True, "false": False, "null": None}, namespace)  # noqa: S102 - our own file
    return namespace, nb


def test_metadata_and_notebook_parameters_come_from_one_spec(tmp_path):
    spec = KernelSpec(**TINY, dataset_sources=["tester/subset"], data_source="jsonl",
                      data_path="kaggle:tester/subset/pairs.jsonl", self_chain=True)
    folder = write_kernel_folder(spec, tmp_path / "kernel")
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    assert meta["id"] == "tester/kaggle-t2sql-train" and meta["code_file"] == "train.ipynb"
    assert meta["machine_shape"] == "NvidiaTeslaT4" and meta["enable_gpu"] and meta["is_private"]
    assert meta["dataset_sources"] == ["tester/kaggle-t2sql-checkpoints", "tester/subset"]
    params, nb = injected(folder)
    assert params["store"] == "kaggle:" + meta["dataset_sources"][0]  # the store pushed to is the dataset attached
    assert params["data_path"] == "kaggle:tester/subset/pairs.jsonl" and params["chain"] is True
    assert KernelSpec.from_dict(params["kernel_spec"]) == spec == load_spec(folder)
    assert not [c for c in nb["cells"] if c["cell_type"] == "code" and c.get("outputs")]


@pytest.mark.parametrize("change, message", [
    (dict(user="bad user"), "bad Kaggle user"),
    (dict(preset="arctic-7b-t4"), "data_path is empty"),
    (dict(data_source="jsonl", data_path="kaggle:tester/subset/pairs.jsonl"), "add --dataset-source tester/subset"),
    (dict(overrides={"model.name_or_path": "kaggle-model:tester/arctic/transformers/7b/1"}),
     "add --model-source tester/arctic/transformers/7b/1"),
    (dict(package_source=""), "must install kaggle_t2sql"),
    (dict(internet=False), "can neither push its checkpoints .* nor read Kaggle Secrets"),  # issue 17 item 5
    (dict(store_slug="X"), "bad store_slug"),
])
def test_an_inconsistent_setup_is_refused_before_anything_is_written(tmp_path, change, message):
    spec = KernelSpec(**{**TINY, **change})
    with pytest.raises(ConfigError, match=message):
        write_kernel_folder(spec, tmp_path / "kernel")
    assert not (tmp_path / "kernel").exists()


def test_kaggle_init_creates_the_store_and_refuses_other_users_and_missing_inputs(emu, tmp_path):
    api = kaggle_api()
    with pytest.raises(ConfigError, match="credentials belong to 'tester'"):
        init_kernel(KernelSpec(**{**TINY, "user": "someone"}), tmp_path / "k0", api=api)
    with pytest.raises(ConfigError, match="tester/subset not found"):
        init_kernel(KernelSpec(**TINY, dataset_sources=["tester/subset"]), tmp_path / "k1", api=api)
    assert not emu.dataset_versions("tester/kaggle-t2sql-checkpoints") and not (tmp_path / "k1").exists()
    lines = init_kernel(KernelSpec(**TINY), tmp_path / "k2", api=api)
    assert "created the private checkpoint dataset tester/kaggle-t2sql-checkpoints" in lines
    assert json.loads(emu.dataset_files("tester/kaggle-t2sql-checkpoints")["t2sql-store.json"])["runs"] == {}
    assert "exists: sessions resume from it" in init_kernel(KernelSpec(**TINY), tmp_path / "k3", api=api)[0]


def test_a_refused_push_raises_with_kaggles_message_and_makes_no_version(emu, tmp_path):
    folder = write_kernel_folder(KernelSpec(**TINY), tmp_path / "kernel")
    api = kaggle_api()
    emu.refuse_next_push = "Phone verification is required to use GPU accelerators"
    with pytest.raises(KernelPushRefused, match="Kaggle refused to run tester/kaggle-t2sql-train: Phone verification"):
        push_kernel(api, folder)
    assert emu.kernel_runs("tester/kaggle-t2sql-train") == []
    emu.gpu_hours_remaining = 0
    with pytest.raises(KernelPushRefused, match="Maximum weekly GPU quota of 30.00 hours reached"):
        push_kernel(api, folder)


def test_a_push_whose_sources_kaggle_dropped_is_reported(emu, tmp_path):
    """Kaggle leaves a dataset that does not exist off the kernel: no later session would mount it."""
    folder = write_kernel_folder(KernelSpec(**TINY), tmp_path / "kernel")
    with pytest.raises(T2SQLError, match="could not attach tester/kaggle-t2sql-checkpoints"):
        push_kernel(kaggle_api(), folder)
    (run,) = emu.kernel_runs("tester/kaggle-t2sql-train")
    assert run.settings["datasetDataSources"] == []


def test_kaggle_init_cli_then_chain_refuses_without_a_kernel_folder(emu, tmp_path):
    env = emu.subprocess_env(tmp_path / "client")
    out = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "chain", "--folder", str(tmp_path / "none")],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 2 and "kaggle-init --user" in out.stderr
    out = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "kaggle-init", "--user", "tester", "--preset", "tiny",
                          "--package-source", "kaggle_t2sql", "--folder", str(tmp_path / "kernel")],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "next: kaggle-t2sql chain --folder" in out.stdout
    assert load_spec(tmp_path / "kernel").store == "tester/kaggle-t2sql-checkpoints"


def test_kaggle_init_takes_the_learning_method_and_its_data(tmp_path):
    """--method / --init-adapter / --pairs become the notebook's settings; each method's missing data is refused."""
    from kaggle_t2sql.cli import build_parser
    from kaggle_t2sql.cli_kaggle import kernel_spec_of

    def spec(*extra):
        return kernel_spec_of(build_parser().parse_args(["kaggle-init", "--user", "tester", "--preset", "tiny",
                                                         "--package-source", "kaggle_t2sql", *extra]))

    dpo = spec("--method", "dpo", "--pairs", "kaggle:tester/samples/pairs.jsonl", "--dataset-source", "tester/samples",
               "--init-adapter", "run:sft-first")
    params, _ = injected(write_kernel_folder(dpo, tmp_path / "dpo"))
    cfg = dpo.config()
    assert (cfg.training.method, cfg.training.init_adapter) == ("dpo", "run:sft-first")
    assert (cfg.data.stages[0].source, cfg.data.stages[0].path) == ("pairs", "kaggle:tester/samples/pairs.jsonl")
    assert params["overrides"]["training.method"] == "dpo" and params["data_source"] == "pairs"
    grpo = spec("--method", "grpo", "--init-adapter", "run:sft-first", "--set", "grpo.num_generations=2")
    assert grpo.config().training.method == "grpo" and grpo.config().grpo.num_generations == 2
    assert spec().config().training.method == "sft" and "training.method" not in spec().overrides
    with pytest.raises(ConfigError, match="--method dpo trains on preference pairs: pass --pairs"):
        spec("--method", "dpo")
    with pytest.raises(ConfigError, match="--pairs feeds --method dpo or orpo, not grpo"):
        spec("--method", "grpo", "--pairs", "kaggle:tester/samples/pairs.jsonl")
    unattached = spec("--method", "grpo", "--init-adapter", "kaggle:tester/sft-adapter/checkpoint-8", "--set",
                      "grpo.num_generations=2")
    with pytest.raises(ConfigError, match="add --dataset-source tester/sft-adapter"):
        write_kernel_folder(unattached, tmp_path / "unattached")


def test_kaggle_init_method_sample_sets_up_sample_sessions(tmp_path):
    """--method sample: the notebook runs `sample` sessions (task "sample") on the data from --init-adapter, as a
    run of the store named "samples" unless named; its settings are checked before anything is written."""
    from kaggle_t2sql.cli import build_parser
    from kaggle_t2sql.cli_kaggle import kernel_spec_of

    def spec(*extra):
        return kernel_spec_of(build_parser().parse_args(["kaggle-init", "--user", "tester", "--preset", "tiny",
                                                         "--package-source", "kaggle_t2sql", *extra]))

    sample = spec("--method", "sample", "--init-adapter", "run:sft-first", "--data-source", "jsonl", "--data-path",
                  "kaggle:tester/subset/pairs.jsonl", "--dataset-source", "tester/subset", "--limit", "6",
                  "--samples", "4", "--temperature", "0.7", "--max-new-tokens", "64", "--gold-as-chosen")
    params, _ = injected(write_kernel_folder(sample, tmp_path / "sample"))
    assert params["task"] == "sample" and params["run_name"] == "samples"
    assert params["sample"] == {"samples": 4, "temperature": 0.7, "gold_as_chosen": True, "max_new_tokens": 64}
    cfg = sample.config()
    assert (cfg.training.method, cfg.training.init_adapter, cfg.run_name) == ("sft", "run:sft-first", "samples")
    assert "training.method" not in params["overrides"]
    assert spec("--method", "sample", "--run-name", "s1").config().run_name == "s1"
    assert spec("--method", "sample").sample == {"samples": 8, "temperature": 0.8, "gold_as_chosen": False}
    with pytest.raises(ConfigError, match="--samples, --gold-as-chosen: for sample sessions only, not --method sft: "
                                          "add --method sample, or drop them"):
        spec("--samples", "4", "--gold-as-chosen")  # an SFT session would run instead of the sampling asked for
    with pytest.raises(ConfigError, match="--max-new-tokens: for sample sessions only, not --method grpo"):
        spec("--method", "grpo", "--max-new-tokens", "0")
    with pytest.raises(ConfigError, match="a sample session reads its questions from data_source 'synsql'"):
        spec("--method", "sample", "--data-source", "synsql", "--data-path", "kaggle:tester/subset/x")
    with pytest.raises(ConfigError, match="--samples 2 with --temperature 0.0"):
        spec("--method", "sample", "--samples", "2", "--temperature", "0")
    with pytest.raises(ConfigError, match="add --dataset-source tester/sft-adapter"):
        write_kernel_folder(spec("--method", "sample", "--init-adapter", "kaggle:tester/sft-adapter/checkpoint-8"),
                            tmp_path / "unattached")
    with pytest.raises(ConfigError, match="unknown sample setting"):
        write_kernel_folder(KernelSpec(**TINY, task="sample", sample={"sampels": 2}), tmp_path / "typo")
    with pytest.raises(ConfigError, match="task 'smaple'"):
        write_kernel_folder(KernelSpec(**TINY, task="smaple"), tmp_path / "task")
    assert not any((tmp_path / name).exists() for name in ("unattached", "typo", "task"))
