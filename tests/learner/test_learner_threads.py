"""The learner's torch threads follow the CPUs it is given: all cores offline, its Ray num_cpus online."""

import os
import shutil
import tempfile

import pytest
import ray
import torch
from helpers.learner import tiny_config

from moto_rl.learner.service import learner_threads


def test_offline_takes_every_core_and_settings_win():
    cfg = tiny_config()
    assert learner_threads(cfg, "offline") == len(os.sched_getaffinity(0))
    assert learner_threads(tiny_config("perf.offline_torch_threads=3"), "offline") == 3
    assert learner_threads(tiny_config("perf.torch_threads=5"), "online") == 5
    assert learner_threads(cfg, "online") == 0  # outside Ray: torch's default is left alone
    with pytest.raises(ValueError, match="offline.*online"):
        learner_threads(cfg, "warmup")


@ray.remote
class _Probe:
    def threads(self, cfg) -> tuple[str | None, int, int]:
        n = learner_threads(cfg, "online")
        torch.set_num_threads(n)
        return os.environ.get("OMP_NUM_THREADS"), n, torch.get_num_threads()


@pytest.mark.ray
def test_online_threads_follow_the_ray_cpus_of_the_actor():
    tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths have a length limit
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, _temp_dir=tmp, _node_ip_address="127.0.0.1")
    try:
        cfg = tiny_config()
        for cpus in (1, 2):
            omp, n, torch_n = ray.get(_Probe.options(num_cpus=cpus).remote().threads.remote(cfg))
            assert n == cpus and torch_n == cpus, omp  # torch follows the actor's CPUs whatever OMP_NUM_THREADS says
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
