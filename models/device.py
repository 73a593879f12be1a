"""Picking a torch device: 'auto' means CUDA when present, else CPU."""

from __future__ import annotations

import torch


def pick_device(spec: str = "auto") -> torch.device:
    """`spec` as a device; 'auto' → cuda if available, else cpu. 'cuda' without a GPU is an error."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {spec!r} requested but no CUDA GPU is visible")
    return dev


def set_threads(threads: int) -> None:
    """Cap torch's CPU threads when configured (0 keeps torch's default; clips run side by side)."""
    if threads > 0:
        torch.set_num_threads(threads)
