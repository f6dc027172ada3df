"""The ``cluster`` fixture: a simulated Ray cluster's head node (tools in tests/helpers/cluster.py)."""

import pytest
import ray
from helpers.cluster import FAST_FAILURE_DETECTION, short_ray_tmp
from ray.cluster_utils import Cluster


@pytest.fixture
def cluster(monkeypatch):
    """A head node only (1 CPU: the evaluation worker); tests add learner and rollout nodes."""
    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
            "temp_dir": short_ray_tmp(monkeypatch),
            "_system_config": FAST_FAILURE_DETECTION,
        },
    )
    try:
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()
