"""One local Ray (two CPUs, like the CI machine) shared by all of the plugin's tests: starting Ray
takes tens of seconds on two cores. The executor joins it and leaves it running."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray plugin's tests need ray (installer/setup.sh installs it)")


@pytest.fixture(scope="session")
def ray_session():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Path:
    """Eight small synthetic dermoscopy cases (ISIC layout)."""
    from curator.core.jobs import run
    from curator.lab.synthetic import iter_write_demo

    root = tmp_path_factory.mktemp("raydemo") / "demo"
    run(iter_write_demo(root, n_derm=8, n_ct=2, derm_shape=(64, 80), ct_shape=(8, 32, 32)))
    return root / "derm"


@pytest.fixture(scope="session")
def ray_processes():
    """``find(prefix)``: this user's processes whose title (``ray::<task or actor>``) starts with it."""
    return _ray_processes


def _ray_processes(prefix: str) -> dict[int, str]:
    """This user's processes whose title (Ray sets ``ray::<task or actor>``) starts with ``prefix``."""
    out = {}
    uid = os.getuid()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if d.stat().st_uid != uid:
                continue
            title = (d / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if title.startswith(prefix):
            out[int(d.name)] = title
    return out
