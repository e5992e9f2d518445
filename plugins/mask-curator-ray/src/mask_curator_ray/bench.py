"""``curator bench scale``: Ray's per-task scheduling overhead and the speed-up against the number of
workers, on several Ray nodes started on loopback (``ray start --head``, ``ray start --address``).

Each node is a ``ray start --block`` process with one CPU, started here and stopped by its process
id (never ``ray stop``, which would stop every Ray on the machine). Measured:

- overhead: an empty task's round trip (submit, schedule, run, return), one after another, and
  the throughput of many empty tasks submitted at once;
- speed-up: a fixed amount of training-like work (a small 2-D UNet, forward and backward, one
  thread per task) cut into ``tasks`` equal tasks, run with 1..N workers (at most N tasks at once).
  On a machine with C cores, more than C workers cannot be faster: the numbers say so.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["scale_benchmark"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> list[str]:
    exe = Path(sys.executable).with_name("ray")
    return [str(exe)] if exe.exists() else [shutil.which("ray") or "ray"]


def _work(steps: int) -> float:
    """Training-like work: ``steps`` forward/backward passes of a small 2-D UNet, one thread."""
    import torch
    from monai.networks.nets import UNet

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = UNet(spatial_dims=2, in_channels=3, out_channels=2, channels=(8, 16, 32), strides=(2, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(4, 3, 64, 64)
    y = torch.randint(0, 2, (4, 64, 64))
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return time.perf_counter() - t0


def _noop() -> int:
    return 0


def _start_node(head_port: int | None = None, address: str | None = None) -> subprocess.Popen:
    """A one-CPU Ray node (``ray start --block``): the head (``head_port``) or one joining ``address``."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    ray = _ray_cli()
    common = ["--num-cpus=1", "--num-gpus=0", "--block", "--disable-usage-stats"]
    if head_port is not None:
        subprocess.run(ray + ["get-auth-token", "--generate"], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        args = ["start", "--head", f"--port={head_port}", "--include-dashboard=false"]
    else:
        args = ["start", f"--address={address}"]
    return subprocess.Popen(ray + args + common, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def _head_address(port: int, procs, timeout: float = 120.0) -> str:
    """The started head's address (``IP:port``, the IP Ray chose), once it has written it."""
    current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("the Ray head failed to start")
        try:
            address = current.read_text().strip()
        except OSError:
            address = ""
        if address.endswith(f":{port}"):
            return address
        time.sleep(0.5)
    raise RuntimeError(f"the Ray head on port {port} did not start within {timeout:.0f} s")


def _stop_nodes(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):  # workers first, then the head; each `ray start --block` stops its own
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


def scale_benchmark(*, nodes: int = 2, tasks: int = 8, steps: int = 100, overhead_tasks: int = 200,
                    progress=None) -> dict:
    """Start ``nodes`` one-CPU Ray nodes on this machine, measure, stop them. Returns a dict of numbers."""
    # token authentication, explicitly, for the nodes and this driver (set before Ray is imported)
    os.environ["RAY_AUTH_MODE"] = "token"
    import ray

    say = progress or (lambda msg: None)
    if ray.is_initialized():
        raise RuntimeError("a Ray session is already open in this process")
    t0 = time.perf_counter()
    say(f"starting {nodes} Ray node(s) on this machine")
    port = _free_port()
    procs = [_start_node(head_port=port)]
    out: dict = {"nodes": nodes, "cores": os.cpu_count(), "tasks": tasks, "steps_per_task": steps}
    try:
        address = _head_address(port, procs)
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        procs += [_start_node(address=address) for _ in range(nodes - 1)]
        deadline = time.monotonic() + 300  # a node takes tens of seconds to join on a busy 2-core machine
        while len([n for n in ray.nodes() if n["Alive"]]) < nodes and time.monotonic() < deadline:
            time.sleep(0.5)
        out["nodes_alive"] = len([n for n in ray.nodes() if n["Alive"]])
        out["startup_s"] = time.perf_counter() - t0
        noop = ray.remote(num_cpus=1)(_noop)
        work = ray.remote(num_cpus=1, max_retries=0)(_work)
        ray.get([noop.remote() for _ in range(2 * nodes)])  # workers started and warm
        ray.get([work.remote(1) for _ in range(nodes)])  # torch imported in each
        say("overhead: empty tasks")
        t = time.perf_counter()
        for _ in range(50):
            ray.get(noop.remote())
        out["roundtrip_ms"] = 1000 * (time.perf_counter() - t) / 50
        t = time.perf_counter()
        ray.get([noop.remote() for _ in range(overhead_tasks)])
        out["throughput_tasks_per_s"] = overhead_tasks / (time.perf_counter() - t)
        say("the work in one process, no Ray")
        out["serial_s"] = sum(_work(steps) for _ in range(tasks))
        rows = []
        for w in range(1, out["nodes_alive"] + 1):  # one CPU per node: at most that many tasks at once
            say(f"{tasks} tasks on {w} worker(s)")
            t = time.perf_counter()
            pending, inside = [], 0.0
            todo = tasks
            while todo or pending:
                while todo and len(pending) < w:
                    pending.append(work.remote(steps))
                    todo -= 1
                ready, pending = ray.wait(pending, num_returns=1)
                inside += sum(ray.get(ready))
            wall = time.perf_counter() - t
            rows.append({"workers": w, "wall_s": wall, "speedup": out["serial_s"] / wall,
                         "overhead_per_task_ms": max(0.0, 1000 * (wall * w - inside) / tasks),
                         "task_s": inside / tasks})
        out["rows"] = rows
    finally:
        if ray.is_initialized():
            ray.shutdown()
        _stop_nodes(procs)
    return out
