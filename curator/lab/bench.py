"""Speed and memory benchmarks of the uncertainty engine (``curator bench speed``).

Each scenario runs in a fresh subprocess so its peak memory is its own. Reported per scenario:
milliseconds per forward pass, milliseconds per case for ``members x tta`` passes (measured, or
extrapolated from a measured subset when ``passes`` is smaller, and labelled so), the model's
FLOPs per pass (``torch.utils.flop_counter``), the achieved GFLOP/s beside the device's measured
peak (a large matrix multiply), and the peak memory (process RSS on CPU, allocator peak on CUDA).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from curator.core.engine.device import autocast, describe_device, resolve_device, set_threads
from curator.core.engine.inference import forward_probs, iter_predict
from curator.core.engine.models import ModelSpec, build_network
from curator.core.engine.preprocess import Preprocessor, PreprocessSpec
from curator.core.engine.uncertainty import UncertaintyMaps
from curator.core.jobs import run

__all__ = ["SCENARIOS", "run_scenario", "measure_peak_gflops", "run_benchmarks"]

SCENARIOS = {
    # small versions for the tests (so the benchmark code cannot rot)
    "tiny2d": {"ndim": 2, "shape": [64, 64], "channels": [4, 8, 16], "members": 2, "tta": 2},
    "tiny3d": {"ndim": 3, "shape": [16, 48, 48], "channels": [4, 8, 16], "patch": [8, 32, 32], "members": 2,
               "tta": 2},
    "2d": {"ndim": 2, "shape": [256, 256], "channels": [16, 32, 64, 128, 256], "members": 5, "tta": 8},
    "3d": {"ndim": 3, "shape": [128, 256, 256], "channels": [16, 32, 64, 128], "patch": [64, 128, 128],
           "members": 5, "tta": 8},
    # a typical CT (0.8 mm pixels, 1 mm slices) taken to the default working spacing, scored and
    # brought back to the original grid: the memory of the whole path
    "3d-large": {"ndim": 3, "shape": [300, 512, 512], "channels": [16, 32, 64, 128], "patch": [64, 128, 128],
                 "members": 5, "tta": 8, "memory_only": True, "spacing": [0.8, 0.8, 1.0],
                 "work_spacing": [1.5, 1.5, 2.5]},
}


def measure_peak_gflops(device, seconds: float = 2.0, n: int = 2048, *, low_precision: bool = True) -> float:
    """GFLOP/s of a large float32 matrix multiply (on CUDA bfloat16, the dtype autocast uses,
    unless ``low_precision`` is off)."""
    import torch

    dtype = torch.bfloat16 if device.type == "cuda" and low_precision else torch.float32
    if device.type == "cuda":
        n = 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    (a @ b).sum().item()
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        c = a @ b
        reps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    del c
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def _flops(net, x) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return float(counter.get_total_flops())


def _peak_memory_mb(device) -> float:
    import resource

    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_scenario(name: str, *, device: str = "auto", passes: int | None = None, threads: int | None = None,
                 amp: bool = True) -> dict:
    """Run one scenario in this process and return its numbers (see the module docstring).
    ``amp``: mixed precision on CUDA (bfloat16 where supported), as training and scoring use."""
    import numpy as np
    import torch

    sc = SCENARIOS[name]
    set_threads(threads)
    dev = resolve_device(device)
    amp = bool(amp) and dev.type == "cuda"
    ndim = sc["ndim"]
    shape = tuple(sc["shape"])
    spec = ModelSpec(spatial_dims=ndim, in_channels=3 if ndim == 2 else 1, labels=[0, 1] if ndim == 2 else [0, 1, 2],
                     channels=sc["channels"], strides=[2] * (len(sc["channels"]) - 1), num_res_units=0,
                     norm="batch" if ndim == 2 else "instance",
                     preprocess=PreprocessSpec("rgb2d", shape) if ndim == 2 else PreprocessSpec("ct", patch=tuple(sc["patch"])))
    net = build_network(spec).to(dev).eval()
    total_passes = sc["members"] * sc["tta"]
    out = {"scenario": name, "device": describe_device(dev), "amp": amp, "shape": list(shape), "members": sc["members"],
           "tta": sc["tta"], "passes_per_case": total_passes}
    rng = np.random.default_rng(0)
    if ndim == 2:
        img = (rng.random(shape + (3,)) * 255).astype(np.uint8)
        x = Preprocessor(spec.preprocess, shape).image_forward(img)
        unit = x[None].to(dev)
        out["flops_per_pass"] = _flops(net, unit)
        forward_probs(net, unit, amp=amp)  # warm-up
        members = [(net, None)] * sc["members"]
        n_cases = 3
        t0 = time.perf_counter()
        for i in range(n_cases):
            acc = run(iter_predict(members, x.to(dev), tta=sc["tta"], device=dev, amp=amp, seed=i))
            acc.result()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        per_case = (time.perf_counter() - t0) / n_cases
        out["ms_per_case"] = 1000 * per_case
        out["ms_per_pass"] = 1000 * per_case / total_passes
        out["measured_passes"] = total_passes * n_cases
    else:
        vol = rng.normal(40, 30, shape).astype(np.int16)
        if sc.get("work_spacing"):
            spec.preprocess.spacing = tuple(sc["work_spacing"])
        pre = Preprocessor(spec.preprocess, shape, tuple(sc.get("spacing", (1.0, 1.0, 1.0))))
        out["work_shape"] = list(pre.work_shape)
        x = pre.image_forward(vol)
        patch = tuple(sc["patch"])
        unit = torch.zeros((1, 1) + patch, device=dev)
        out["flops_per_patch"] = _flops(net, unit)
        with torch.no_grad(), autocast(dev, amp):
            net(unit)  # warm-up
        n_pass = passes if passes is not None else (1 if sc.get("memory_only") else 2)
        n_pass = max(1, min(n_pass, total_passes))
        members = [(net, patch)] * max(1, min(sc["members"], n_pass))
        tta = max(1, n_pass // len(members))
        events = []
        t0 = time.perf_counter()
        acc = run(iter_predict(members, x, tta=tta, device=dev, amp=amp), events.append)
        res = acc.result()
        maps = UncertaintyMaps({k: v.numpy() for k, v in res.items()}, {"orig_shape": list(shape), "labels": [0, 1, 2]})
        full = maps.at_original("variance")  # back on the original grid, as the review needs
        if dev.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        patches_per_pass = max(e.total for e in events if e.message == "patches")
        done = acc.n
        out["patches_per_pass"] = patches_per_pass
        out["measured_passes"] = done
        out["ms_per_pass"] = 1000 * elapsed / done
        out["ms_per_case"] = out["ms_per_pass"] * total_passes
        out["ms_per_case_extrapolated"] = done < total_passes
        out["flops_per_pass"] = out["flops_per_patch"] * patches_per_pass
        del full
    out["gflops_achieved"] = out["flops_per_pass"] / (out["ms_per_pass"] / 1000) / 1e9
    out["peak_memory_mb"] = _peak_memory_mb(dev)
    return out


def run_benchmarks(names=("2d", "3d"), *, device: str = "auto", passes: int | None = None,
                   threads: int | None = None, amp: bool = True) -> dict:
    """Each scenario in its own subprocess (clean peak memory), then the matmul peak."""
    import torch

    results = []
    for name in names:
        code = ("import json, sys; from curator.lab.bench import run_scenario; "
                f"print('BENCH ' + json.dumps(run_scenario({name!r}, device={device!r}, passes={passes!r}, "
                f"threads={threads!r}, amp={bool(amp)!r})))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
        if proc.returncode != 0 or not line:
            results.append({"scenario": name, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]})
            continue
        results.append(json.loads(line[-1][6:]))
    set_threads(threads)
    dev = resolve_device(device)
    peak = measure_peak_gflops(dev, low_precision=amp)
    for r in results:
        if "gflops_achieved" in r:
            r["fraction_of_peak"] = r["gflops_achieved"] / peak
    return {"device": describe_device(dev), "amp": bool(amp) and dev.type == "cuda", "peak_gflops": peak,
            "torch": torch.__version__, "results": results}
