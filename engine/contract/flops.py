"""What a device can do, for MFU: NVIDIA GPUs' bf16 dense tensor-core peaks, from their data sheets.

Plain data (no torch), so a client can name the figure it divides by. The peaks are dense (no 2:4
sparsity) with fp32 accumulation, the mode autocast's bf16 matmuls run in; a GPU not listed has
no peak here, and its MFU is shown as unknown rather than guessed.
"""

from __future__ import annotations

import re

# Matched against torch.cuda.get_device_name() as whole words, longest first ("H100 PCIe" before
# "H100"; "A10" is not "A10G", whose peak NVIDIA does not publish). TFLOP/s.
BF16_DENSE_TFLOPS: dict[str, float] = {
    "A100": 312,
    "H100 PCIe": 756,
    "H100 NVL": 835,
    "H100": 989,  # SXM
    "H200": 989,
    "H800": 989,
    "GH200": 989,
    "B200": 2250,
    "L4": 121,
    "L40S": 362,
    "L40": 181,
    "A10": 125,
    "RTX 4090": 165,
    "RTX 3090": 71,
}


def gpu_peak(name: str) -> float | None:
    """The bf16 dense peak of the GPU called `name`, in FLOP/s; None if it is not in the table."""
    for key in sorted(BF16_DENSE_TFLOPS, key=len, reverse=True):
        if re.search(rf"\b{re.escape(key)}\b", name):
            return BF16_DENSE_TFLOPS[key] * 1e12
    return None
