"""A tiny run on a simulated multi-node cluster: the learner on its own node (not the driver's), rollout
workers spread over rollout nodes, then failures of the kind spot nodes produce.

- a rollout node removed mid-online: its episode in flight is lost, nothing partial is visible in the
  store, the worker is restarted on the remaining rollout node and the run ends with the asked count;
- the learner's node removed: the driver stops with a message naming ``moto train --resume RUN``, and
  the resumed run (on a new learner node) ends with every committed episode counted exactly once.
"""

import json
import math
import os
import signal
from pathlib import Path

import pytest
import ray
from helpers.cluster import TINY, add_node, alive_actors, connect, moto, tail, wait_for

from moto_rl.deploy.run.placement import _visible_everywhere, alive_nodes
from moto_rl.storage import TrajectoryStore

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.timeout(600)]

ONLINE_STEPS, UPDATES_PER_EPISODE = 24, 2
TARGET = math.ceil(ONLINE_STEPS / UPDATES_PER_EPISODE)


def latest_schedule(run: Path) -> dict | None:
    done = sorted(p for p in (run / "checkpoints").glob("step_*") if (p / "schedule.json").is_file())
    return json.loads((done[-1] / "schedule.json").read_text()) if done else None


def online_episodes(store_path: Path) -> list[str]:
    try:
        store = TrajectoryStore.open(store_path)
    except Exception:  # not created yet
        return []
    return [i for i in store.episode_ids() if store.meta(i).source == "online"]


def assert_store_whole(store_path: Path) -> list[str]:
    store = TrajectoryStore.open(store_path)
    ids = store.episode_ids()
    assert len(ids) == len(set(ids))
    assert store.verify() == []  # every visible episode reads back whole
    online = [i for i in ids if store.meta(i).source == "online"]
    assert len(online) == TARGET  # none lost from the count, none collected twice
    assert sum(store.meta(i).source == "offline" for i in ids) == 2
    return ids


def test_rollout_node_lost_mid_online_and_the_run_still_ends(cluster, tmp_path):
    learner_node = add_node(cluster, 1, learner=1)
    rollout_a = add_node(cluster, 2, rollout=2)
    rollout_b = add_node(cluster, 2, rollout=2)
    connect(cluster)
    assert _visible_everywhere(tmp_path, alive_nodes()) == []  # the probe the driver uses on multi-machine clusters
    head_id = cluster.head_node.node_id

    run, log = tmp_path / "spread", tmp_path / "spread.log"
    args = [
        "train",
        *TINY,
        "run_name=spread",
        f"logging.root={tmp_path}",
        f"storage.offline_url={tmp_path}/demos",
        f"workers.ray_address={cluster.address}",
        f"schedule.online_steps={ONLINE_STEPS}",
        "schedule.checkpoint_every=0",
    ]
    proc = moto(args, log)
    try:
        # the learner, 2 rollout workers and the evaluation worker (a RolloutWorkerActor that stores nothing)
        placed = wait_for(
            lambda: (a := alive_actors()).get("LearnerService") and len(a.get("RolloutWorkerActor", [])) == 3 and a,
            240,
            "the learner and 3 worker actors",
            proc,
            log,
        )
        assert placed["LearnerService"] == [learner_node.node_id]  # by resource, on a node that is not the driver's
        assert learner_node.node_id != head_id
        workers = sorted(placed["RolloutWorkerActor"])
        # spread: one per rollout node; eval on the head
        assert workers == sorted([rollout_a.node_id, rollout_b.node_id, head_id])

        wait_for(lambda: len(online_episodes(run / "store")) >= 2, 240, "online episodes", proc, log)
        cluster.remove_node(rollout_b, allow_graceful=False)  # a spot node reclaimed, mid-episode
        assert proc.wait(timeout=400) == 0, tail(log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # the worker of the lost node was restarted by Ray on the remaining rollout node (the actor table keeps
    # the last incarnation's node after the run's actors are gone)
    table = [a for a in ray._private.state.actors().values() if a["ActorClassName"] == "RolloutWorkerActor"]
    moved = [a for a in table if a["NumRestarts"] >= 1]
    assert len(moved) == 1 and moved[0]["Address"]["NodeID"] == rollout_a.node_id
    assert_store_whole(run / "store")  # nothing partial visible, every episode asked for is there once
    final = latest_schedule(run)
    assert final["episodes"] == TARGET and final["online_done"] == UPDATES_PER_EPISODE * TARGET
    # an episode in flight on the lost node (if there was one) is reported and counted, never stored
    summary = (run / "summary.txt").read_text()
    restarts = int(summary.split("worker restarts")[1].split()[0].strip(":"))
    assert restarts == log.read_text().count("its episodes in flight are lost")


def test_learner_node_lost_then_resume_on_a_new_learner_node(cluster, tmp_path):
    learner_node = add_node(cluster, 1, learner=1)
    add_node(cluster, 2, rollout=2)
    connect(cluster)

    run, log = tmp_path / "lost", tmp_path / "lost.log"
    args = [
        "train",
        *TINY,
        "run_name=lost",
        f"logging.root={tmp_path}",
        f"storage.offline_url={tmp_path}/demos",
        f"workers.ray_address={cluster.address}",
        f"schedule.online_steps={ONLINE_STEPS}",
        "schedule.checkpoint_every=4",
    ]
    proc = moto(args, log)
    try:
        wait_for(
            lambda: (s := latest_schedule(run) if run.exists() else None) and s["online_done"] > 0,
            300,
            "an online checkpoint",
            proc,
            log,
        )
        cluster.remove_node(learner_node, allow_graceful=False)
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = log.read_text()
    assert rc == 2, tail(log)
    assert "the learner actor died" in out and f"moto train --resume {run}" in out, tail(log)
    killed_at = latest_schedule(run)
    assert killed_at["episodes"] < TARGET  # really stopped halfway
    committed_before = set(online_episodes(run / "store"))

    replacement = add_node(cluster, 1, learner=1)
    log2 = tmp_path / "resumed.log"
    resumed = moto(["train", "--resume", str(run)], log2)
    try:
        assert resumed.wait(timeout=400) == 0, tail(log2)
    finally:
        if resumed.poll() is None:
            os.killpg(resumed.pid, signal.SIGKILL)
    assert (
        f"from {Path(sorted((run / 'checkpoints').glob('step_*'))[0]).name}" in log2.read_text()
        or "resuming" in log2.read_text()
    )
    ids = assert_store_whole(run / "store")
    assert committed_before <= set(ids)  # nothing committed before the loss went missing
    final = latest_schedule(run)
    assert (final["offline_done"], final["online_done"], final["episodes"]) == (8, UPDATES_PER_EPISODE * TARGET, TARGET)
    assert replacement.node_id != learner_node.node_id
    assert ray.is_initialized()
