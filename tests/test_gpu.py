import pytest

from kaggle_t2sql.gpu import Device, GpuError, describe, diagnose, supported

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
