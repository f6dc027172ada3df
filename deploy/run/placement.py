"""Where a run's actors go on a Ray cluster, and which paths every node must be able to see.

Node types declare custom resources (deploy/cluster/*.yaml, and the simulated clusters of
tests/cluster/): ``learner`` on nodes that host a learner (one unit per learner), ``rollout`` on
nodes for rollout workers (one unit per worker). When the cluster has such nodes the learner asks for
one ``learner`` unit and each rollout worker for one ``rollout`` unit, spread over the rollout nodes
(``actors/worker.py``: ``worker_actor_options``);
a cluster without them (a laptop) places actors wherever a CPU is free. The driver may run anywhere.

Run directories and stores are handed to actors as absolute paths or URLs, never relative to the
driver's working directory. On a cluster whose nodes are on more than one machine, a local path is
only allowed when every node sees it (a shared file system mounted at the same path): the driver
checks by writing a probe file and reading it back from a task on each node.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from moto_rl.common.config import MotoConfig
from moto_rl.common.errors import UserError

LEARNER_RESOURCE = "learner"


def cluster_has(resource: str) -> bool:
    """True when some node of the connected cluster declares ``resource``."""
    return ray.cluster_resources().get(resource, 0) > 0


def learner_resources() -> dict[str, float]:
    return {LEARNER_RESOURCE: 1} if cluster_has(LEARNER_RESOURCE) else {}


def alive_nodes() -> list[dict]:
    return [n for n in ray.nodes() if n.get("Alive")]


def machines(nodes: list[dict]) -> set[str]:
    """Distinct machines among Ray nodes (several simulated nodes on one host count once)."""
    return {n.get("NodeManagerHostname") or n.get("NodeManagerAddress") for n in nodes}


@ray.remote(num_cpus=0)
def _sees(path: str) -> bool:
    return os.path.isfile(path)


def _visible_everywhere(folder: Path, nodes: list[dict]) -> list[str]:
    """Node addresses that cannot read a probe file written into ``folder`` by the driver."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".moto-probe-{secrets.token_hex(4)}"
    probe.write_text("moto")
    try:
        refs = {
            n["NodeManagerAddress"] + " (" + n["NodeID"][:8] + ")": _sees.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(str(probe))
            for n in nodes
        }
        return [name for name, ref in refs.items() if not ray.get(ref, timeout=120)]
    finally:
        probe.unlink(missing_ok=True)


def check_shared_paths(
    cfg: MotoConfig, run_path: Path, store_url: str, nodes: list[dict] | None = None, visible=_visible_everywhere
) -> None:
    """Refuse local paths that some node of a multi-machine cluster cannot see, naming the setting."""
    nodes = alive_nodes() if nodes is None else nodes
    if len(machines(nodes)) <= 1:
        return  # one machine: every node sees its disk
    checks = [
        ("logging.root", run_path, "a shared file system mounted at the same path on every node (EFS, Filestore, NFS)")
    ]
    if "://" not in store_url:
        checks.append(("storage.url", Path(store_url).parent, "an object store URL such as s3://BUCKET/moto/RUN/store"))
    for setting, folder, fix in checks:
        blind = visible(folder, nodes)
        if blind:
            raise UserError(
                f"this cluster has {len(nodes)} nodes on {len(machines(nodes))} machines, "
                f"but {setting} ({folder}) is a local path that {len(blind)} of them cannot see "
                f"({', '.join(blind[:3])}); set {setting} to {fix}"
            )
