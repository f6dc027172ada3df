"""Where the learner runs its forward passes in bf16 (``perf.amp_bf16``; weights and Adam stay fp32).

bf16 autocast halves the bytes every matmul and convolution moves and, on hardware with bf16 arithmetic
(CUDA GPUs from Ampere on; x86 CPUs with AVX512-BF16 or AMX), runs them at up to twice the fp32 rate
(measured on a 2-core AVX512-BF16 CPU: 2.2x for a small-size update, 3.0x at paper size). Without those
instructions bf16 is converted in software and gains little or costs time (not measured here: no such
machine was at hand), so the automatic setting turns it on only where the hardware has it.
tests/learner/test_perf_switches.py bounds how far a bf16 update drifts from the fp32 one.
"""

from __future__ import annotations

import torch


def bf16_hardware(device: torch.device) -> str:
    """Why ``device`` computes bf16 natively ("" when it does not)."""
    if device.type == "cuda":
        # torch also answers True for GPUs that only emulate bf16 unless told not to count emulation
        return "CUDA bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else ""
    if device.type == "cpu":
        cpu = torch.cpu
        if getattr(cpu, "_is_amx_tile_supported", lambda: False)():
            return "CPU AMX"
        if getattr(cpu, "_is_avx512_bf16_supported", lambda: False)():
            return "CPU AVX512-BF16"
    return ""


def use_bf16(setting: bool | None, device: torch.device) -> bool:
    """``perf.amp_bf16``: True / False as set; None (automatic) = on where the hardware computes bf16."""
    return bool(bf16_hardware(device)) if setting is None else setting


def precision_label(setting: bool | None, device: torch.device) -> str:
    """What ``use_bf16`` chose and why, for the log and the run summary: "fp32",
    "bf16 autocast (automatic: CPU AVX512-BF16)" or "bf16 autocast (set by perf.amp_bf16)"."""
    if not use_bf16(setting, device):
        return "fp32"
    return f"bf16 autocast ({'set by perf.amp_bf16' if setting else 'automatic: ' + bf16_hardware(device)})"
