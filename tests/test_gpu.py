from types import SimpleNamespace

import pytest

from kaggle_t2sql.gpu import Device, GpuError, describe, diagnose, dtype_for, supported

KAGGLE_TORCH_ARCHS = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]


def test_p100_stops_with_the_remedy():
    p100 = Device(0, "Tesla P100-PCIE-16GB", (6, 0), 16.0, 15.9)
    with pytest.raises(GpuError, match=r"GPU 0 'Tesla P100-PCIE-16GB' \(sm_60\) cannot run this torch build.*choose 'GPU T4 x2'"):
        diagnose([p100], KAGGLE_TORCH_ARCHS)


def test_t4_pair_passes_and_is_described_as_fp16():
    t4s = [Device(i, "Tesla T4", (7, 5), 15.0, 14.7) for i in range(2)]
    diagnose(t4s, KAGGLE_TORCH_ARCHS)
    assert describe(t4s).count("Tesla T4 (sm_75, fp16, no bf16)") == 2
    assert "no GPU" in describe([])


@pytest.mark.parametrize(
    "cap, archs, ok",
    [((7, 5), ["sm_70"], True), ((8, 6), ["sm_80"], True), ((8, 0), ["sm_86"], False),
     ((9, 0), ["sm_90a"], True), ((12, 0), ["sm_90", "compute_90"], True), ((6, 0), ["sm_70", "compute_70"], False)],
)
def test_kernel_compatibility_rules(cap, archs, ok):
    assert supported(cap, archs) is ok


def test_bf16_only_from_ampere():
    assert not Device(0, "T4", (7, 5), 15, 15).bf16 and Device(0, "A100", (8, 0), 40, 40).bf16


@pytest.mark.parametrize(
    "requested, caps, chosen",
    [("auto", [], "float32"), ("auto", [(7, 5), (7, 5)], "float16"), ("auto", [(8, 0)], "bfloat16"),
     ("auto", [(8, 6), (7, 5)], "float16"), ("float16", [(7, 5)], "float16"), ("bfloat16", [(9, 0)], "bfloat16")],
)
def test_compute_dtype_follows_the_gpus(requested, caps, chosen):
    assert dtype_for(requested, caps) == chosen


def fake_t4s(monkeypatch, count=2):
    """torch.cuda answering as Kaggle's 'GPU T4 x2' would (this machine has no GPU)."""
    import torch

    props = SimpleNamespace(name="Tesla T4", major=7, minor=5, total_memory=15 * 2**30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda i=None: (14 * 2**30, 15 * 2**30))
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: KAGGLE_TORCH_ARCHS)


def test_bf16_on_a_t4_is_refused_before_training(monkeypatch, tmp_path):
    import torch

    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.train.model import compute_dtype
    from kaggle_t2sql.train.trainer import ResumableTrainer

    fake_t4s(monkeypatch)
    assert compute_dtype(build_config("arctic-7b-t4").quantization) == torch.float16
    cfg = build_config("tiny", set_args=["quantization.compute_dtype=bfloat16", "data.stages.0.limit=2"])
    with pytest.raises(GpuError, match=r"compute_dtype=bfloat16 needs a GPU with bf16 .* this one is sm_75 .*use compute_dtype auto or float16"):
        ResumableTrainer(cfg, tmp_path / "run", progress=False).run()
    assert not (tmp_path / "run").exists()  # refused before the run folder, a pull or a push
