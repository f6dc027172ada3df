"""Test-wide settings (headless rendering, CPU only, small thread counts: CI has 2 cores) and the Ray lane."""

import os
import shutil
import sys
import tempfile

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Ray 2.60's `ray start --head` turns on token auth; a later in-process head of another test then
# disagrees with its own GCS about the mode. Every test cluster listens on 127.0.0.1 only: no auth.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """`make test` runs two pytest-xdist workers (--dist loadgroup, groups handed out in collection
    order). Tests marked ``ray`` come first and all go to one worker, one after another: two Ray
    instances at once would fight over CI's 2 cores and over fixed ports (the dashboard agent's). Every
    other module stays whole on one worker, so its module-scoped fixtures are built once; the second
    worker runs them beside the Ray lane.

    tryfirst: xdist's worker reads the ``xdist_group`` marks in its own hook of this name and is
    registered after this conftest, so without it xdist would look before the marks exist.
    pytest is pinned to 8.4 (requirements.txt): pytest-xdist 3.8 appends "@group" to
    ``item._nodeid``, which pytest 9 no longer reads for ``item.nodeid``, so under pytest 9 every
    module was its own group and two Ray tests ran at once (a job-submission test failed that way:
    its head's job agent found port 52365 held by another test's head; that test now takes a free
    port as well)."""
    ray_first = sorted(items, key=lambda item: item.get_closest_marker("ray") is None)  # stable
    items[:] = ray_first
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        group = "ray" if item.get_closest_marker("ray") else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


def _ray_running() -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


@pytest.fixture(autouse=True)
def _ray_only_in_the_ray_lane(request):
    """A test that starts Ray in this process without the ``ray`` mark fails: unmarked, it would run
    beside the Ray lane. (A `moto train` subprocess cannot be seen from here: mark those by hand.)"""
    already = _ray_running()
    yield
    if request.node.get_closest_marker("ray") is None and not already and _ray_running():
        pytest.fail(f"{request.node.nodeid} started Ray: mark it @pytest.mark.ray (tests/conftest.py)", pytrace=False)


@pytest.fixture(scope="module")
def ray_session(request):
    """Ray in this process for one test module (mark the module ``ray``): ``RAY_CPUS`` of the module's
    CPUs (default 4), bound to 127.0.0.1, workers rendering with this process's MUJOCO_GL, and a short
    temp dir (Ray's socket paths have a length limit) that is removed afterwards."""
    import ray

    tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    ray.init(
        num_cpus=getattr(request.module, "RAY_CPUS", 4),
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        _temp_dir=tmp,
        log_to_driver=False,
        runtime_env={"env_vars": {"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}},
    )
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
