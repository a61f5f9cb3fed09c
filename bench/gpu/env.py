"""The machine of a GPU session: device, versions, and the two ceilings every later figure is read against --
a bf16 matmul's TFLOP/s and a device-to-device copy's GB/s (bytes read + written), both measured here.

    python bench/gpu/env.py
"""
from __future__ import annotations

import subprocess
import sys

import common
import torch


def main() -> int:
    info = common.device_info()
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm,power.limit",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        info["nvidia_smi"] = f"unavailable: {e}"
    if not torch.cuda.is_available():
        info["error"] = "no CUDA device visible to torch"
        common.save_part("env", info)
        print(info)
        return 1
    n = 8192
    a, b = (torch.randn(n, n, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    ms = common.time_ms(lambda: a @ b, rep=100)
    info["matmul_bf16_tflops"] = round(2 * n ** 3 / ms / 1e9, 1)
    x = torch.empty(2 ** 30 // 2, device="cuda", dtype=torch.bfloat16)  # 1 GiB
    y = torch.empty_like(x)
    ms = common.time_ms(lambda: y.copy_(x), rep=100)
    info["copy_GBps"] = round(2 * x.numel() * 2 / ms / 1e6, 0)
    common.save_part("env", info)
    for k, v in info.items():
        print(f"{k:20s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
