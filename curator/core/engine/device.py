"""Compute device selection: CUDA, then Apple MPS, then CPU; mixed precision on CUDA; CPU threads."""

from __future__ import annotations

import contextlib
import os

__all__ = ["resolve_device", "autocast", "set_threads", "describe_device"]


def resolve_device(name: str | None = "auto"):
    """``auto`` picks CUDA, then MPS, then CPU; ``cpu``, ``cuda``, ``cuda:1``, ``mps`` force one.

    Raises ``ValueError`` with a clear message when a forced device is not available.
    """
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but no CUDA GPU is available (torch reports none)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name} was asked for, but torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps was asked for, but Apple MPS is not available")
    return dev


def autocast(device, enabled: bool = True):
    """Mixed precision on CUDA (bfloat16 where supported, else float16); a no-op elsewhere."""
    import torch

    if not enabled or getattr(device, "type", str(device)) != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def set_threads(n: int | None) -> int:
    """Set torch's intra-op CPU threads (``None``/0: all cores); returns the number in use."""
    import torch

    if n:
        torch.set_num_threads(int(n))
    elif os.environ.get("CURATOR_THREADS"):
        torch.set_num_threads(int(os.environ["CURATOR_THREADS"]))
    return torch.get_num_threads()


def describe_device(device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
