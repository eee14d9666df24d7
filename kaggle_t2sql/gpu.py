"""GPU check at start: what is there, and a clear stop when torch cannot run on it.

Kaggle's P100 (sm_60) is retired and the current image's torch ships no sm_60
kernels: the first CUDA op would fail with cudaErrorNoKernelImageForDevice deep
inside model loading. We look before we leap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import T2SQLError


class GpuError(T2SQLError):
    pass


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    capability: tuple[int, int]
    total_gib: float
    free_gib: float

    @property
    def sm(self) -> str:
        return f"sm_{self.capability[0]}{self.capability[1]}"

    @property
    def bf16(self) -> bool:
        return self.capability >= (8, 0)


def supported(capability: tuple[int, int], arch_list: list[str]) -> bool:
    """Kernels built for sm_XY run on the same major with minor >= Y; compute_XY (PTX) JITs upward."""
    for arch in arch_list:
        kind, _, num = arch.partition("_")
        num = num.rstrip("abcdefghijklmnopqrstuvwxyz")  # sm_90a -> 90
        if not num.isdigit() or len(num) < 2:
            continue
        built = (int(num[:-1]), int(num[-1]))
        if kind == "sm" and built[0] == capability[0] and built[1] <= capability[1]:
            return True
        if kind == "compute" and built <= capability:
            return True
    return False


def diagnose(devices: list[Device], arch_list: list[str]) -> None:
    """Raise GpuError naming the device and the remedy when torch has no kernels for it."""
    for d in devices:
        if not supported(d.capability, arch_list):
            advice = (
                "Kaggle retired the P100 and its current image has no sm_60 kernels: in the notebook's "
                "Settings > Accelerator choose 'GPU T4 x2' (machine_shape NvidiaTeslaT4 in kernel-metadata.json)."
                if d.capability[0] == 6
                else "install a torch build that lists this architecture (torch.cuda.get_arch_list())."
            )
            raise GpuError(
                f"GPU {d.index} '{d.name}' ({d.sm}) cannot run this torch build, which has kernels for "
                f"{', '.join(arch_list) or 'no GPU'}; {advice}"
            )


def dtype_for(requested: str, capabilities: list[tuple[int, int]]) -> str:
    """The compute dtype for these GPUs (none: CPU, float32 unless asked otherwise).

    "auto" picks bf16 when every GPU has it (sm_80+), else fp16; asking for bf16 on a GPU
    without it is refused, not silently emulated.
    """
    if not capabilities:
        return "float32" if requested == "auto" else requested
    bf16 = all(c >= (8, 0) for c in capabilities)
    if requested == "auto":
        return "bfloat16" if bf16 else "float16"
    if requested == "bfloat16" and not bf16:
        sm = ", ".join(f"sm_{a}{b}" for a, b in sorted(set(capabilities)))
        raise GpuError(f"quantization.compute_dtype=bfloat16 needs a GPU with bf16 (sm_80+, e.g. A100, L4), "
                       f"and this one is {sm} (a T4 is sm_75): use compute_dtype auto or float16")
    return requested


def probe() -> list[Device]:
    """The visible CUDA devices (empty on CPU), read without launching any kernel."""
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        free, total = torch.cuda.mem_get_info(i) if supported((props.major, props.minor), torch.cuda.get_arch_list()) else (0, props.total_memory)
        out.append(Device(i, props.name, (props.major, props.minor), total / 2**30, free / 2**30))
    return out


def check() -> list[Device]:
    """Probe, print one line per device, and stop clearly on an unusable GPU."""
    import torch

    devices = probe()
    diagnose(devices, torch.cuda.get_arch_list() if devices else [])
    return devices


def describe(devices: list[Device]) -> str:
    if not devices:
        return "no GPU: running on CPU (float32)"
    return "; ".join(
        f"GPU {d.index}: {d.name} ({d.sm}, {'bf16' if d.bf16 else 'fp16, no bf16'}), "
        f"{d.free_gib:.1f}/{d.total_gib:.1f} GiB free"
        for d in devices
    )


def as_dicts(devices: list[Device]) -> list[dict]:
    return [asdict(d) for d in devices]
