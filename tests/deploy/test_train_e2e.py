"""End to end: a tiny offline -> online run with 2 Ray workers through a worker crash, and a live rescale.

One local Ray session for the module (it costs ~5 s to start). Episodes are short (10 agent steps)
so the whole module stays within a few minutes on CI's 2 cores. Resuming a killed run is
tests/deploy/test_train_sigkill.py.
"""

import logging
import math
import os
import time

import pytest
import ray
import torch
from helpers.smoke import smoke_run

from moto_rl.common.config_loading import load_config
from moto_rl.deploy.run.driver import Driver, evaluation_worker
from moto_rl.deploy.run.run_dir import RunDirectory
from moto_rl.storage import TrajectoryStore

pytestmark = [pytest.mark.slow, pytest.mark.ray]
DELAY = float(os.environ.get("MOTO_TEST_TRAIN_DELAY", "2.0"))  # s each learner result is held back (SlowTraining)


def tiny_overrides(root, name):
    return smoke_run(
        f"run_name={name}",
        f"logging.root={root}",
        "logging.log_every=5",
        "logging.diagnostics_every=20",
        "workers.num_workers=2",
        "schedule.offline_steps=20",
        "schedule.online_steps=12",
        "schedule.eval_every_episodes=3",
        "schedule.eval_episodes=1",
        "schedule.checkpoint_every=10",
        f"storage.offline_url={root}/demos",
    )


def online_episodes(store_url):
    store = TrajectoryStore.open(store_url)
    return [(eid, store.meta(eid)) for eid in store.episode_ids() if store.meta(eid).source == "online"]


class EvalCalls:
    """Stands in for the driver's evaluation-worker handle: forwards every call, records run()'s kwargs."""

    def __init__(self, handle):
        self.handle, self.calls, self.run = handle, [], self

    def remote(self, *args, **kwargs):
        self.calls.append(kwargs)
        return self.handle.run.remote(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.handle, name)


class SlowTraining:
    """Stands in for the driver's learner handle: every train() result comes back ``delay`` seconds late, so
    the learner is slower than the fleet and the backlog gate has to hold the workers back."""

    def __init__(self, handle, delay):
        @ray.remote(num_cpus=0)
        def late(metrics, seconds):  # defined here so that Ray ships it by value
            time.sleep(seconds)
            return metrics

        self.handle, self.delay, self.late, self.train = handle, delay, late, self

    def remote(self, n):
        return self.late.remote(self.handle.train.remote(n), self.delay)

    def __getattr__(self, name):
        return getattr(self.handle, name)


def checked_schedule(monkeypatch, envs_per_worker=1):
    """Check the update-to-data ratio on the real driver's counters after every change: the learner never
    runs ahead of the data (G updates per committed episode), the fleet never more than the backlog
    allows ahead of the learner, and the learner's own step count (train()'s result) is the driver's.
    Returns the patched record_episode and the peak backlog seen, in episodes not yet trained on."""
    from moto_rl.deploy.run import schedule as schedule_module

    cls = schedule_module.Schedule
    record_updates, record_episode = cls.record_updates, cls.record_episode
    after_updates = Driver._after_updates

    # a rescale down leaves the episodes collected under the larger fleet's backlog
    peak = {"backlog": 0, "untrained": 0.0}

    def check(self):
        g = self.cfg.updates_per_episode
        peak["backlog"] = max(peak["backlog"], self.max_backlog)
        peak["untrained"] = max(peak["untrained"], self.online_due / g)
        assert self.state.online_done <= self.state.episodes * g, "learner ran ahead of the data"
        assert self.online_due / g <= (peak["backlog"] + 1) * envs_per_worker, "workers ran past the backlog"

    def updates(self, n, offline):
        record_updates(self, n, offline)
        check(self)

    def episode(self, length):
        due = record_episode(self, length)
        check(self)
        return due

    def driver_updates(self, n, offline, metrics):
        after_updates(self, n, offline, metrics)
        assert metrics["learner_step"] == self.schedule.learner_steps, "the learner did not do the updates counted"

    monkeypatch.setattr(cls, "record_updates", updates)
    monkeypatch.setattr(cls, "record_episode", episode)
    monkeypatch.setattr(Driver, "_after_updates", driver_updates)
    return episode, peak


def test_tiny_run_completes_offline_and_online_through_a_worker_crash(ray_session, tmp_path, monkeypatch):
    from moto_rl.actors import worker as worker_module
    from moto_rl.deploy.run import fleet as fleet_module

    def fleet_with_a_crashing_worker(cfg, store_url, board_name, n, max_restarts, first_index):
        # worker 0 dies (os._exit, like a segfault) in the middle of its second episode
        options = worker_module.worker_actor_options(cfg, max_restarts)
        return [
            worker_module.RolloutWorker.options(**options).remote(
                cfg, store_url, i, board_name, False, 5 if i == 0 else None
            )
            for i in range(first_index, first_index + n)
        ]

    monkeypatch.setattr(fleet_module, "make_rollout_workers", fleet_with_a_crashing_worker)
    _, backlog = checked_schedule(monkeypatch)
    evals = {}
    start_actors = Driver._start_actors

    def start_and_watch_eval(self):
        start_actors(self)
        # the evaluation worker dies 5 steps into its second evaluation (each is one 10-step episode), as
        # when its node is lost: that evaluation runs again on the restarted worker, the run goes on
        ray.kill(self.eval_worker, no_restart=True)
        self.eval_worker = evals["worker"] = EvalCalls(evaluation_worker(cfg, self.board_name, fail_after_steps=15))
        self.learner = SlowTraining(self.learner, DELAY)

    monkeypatch.setattr(Driver, "_start_actors", start_and_watch_eval)
    cfg = load_config(tiny_overrides(tmp_path, "straight"))
    run = RunDirectory.create(cfg)
    driver = Driver(cfg, run)
    summary = driver.run()
    assert driver.worker_restarts == 1 and driver.eval_restarts == 1
    store = TrajectoryStore.open(run.store_url(cfg))
    assert store.verify() == []  # the crashed worker's half episode is nowhere visible
    for eid in store.episode_ids():
        assert store.read(eid).length == 10  # whole episodes only (demos use the same 10-step limit)
    target = math.ceil(12 / 2)
    # the learner (train() results held back DELAY s) fell behind, so the gate, not luck, kept the ratio:
    # 2 workers may run 3 episodes ahead; without the gate they ran 4 ahead (measured: online_due 8, G 2)
    assert backlog["untrained"] >= 2, f"the learner kept up with the fleet; the backlog gate went untested: {backlog}"

    episodes = online_episodes(run.store_url(cfg))
    assert len(episodes) == target
    # the others keep collecting while Ray restarts the crashed worker, so in a run this short worker 1 may
    # write every episode before worker 0 is back; its return is tested in tests/actors/test_actors_ray.py
    # (restart after a kill) and tests/cluster/test_multinode_run.py (fleet rebuilt after a node loss)
    assert "worker-1" in {m.worker for _, m in episodes}
    versions = [m.policy_version for _, m in episodes]
    assert min(versions) >= 20  # acted with weights published after offline pre-training
    assert max(versions) > min(versions)  # and picked up newer ones online
    state = run.read_schedule(run.latest_checkpoint())
    assert (state["offline_done"], state["online_done"], state["episodes"]) == (20, 2 * target, target)
    assert len(state["evals"]) >= 2 and state["evals"][0]["episodes"] == 0  # pre-trained point + online
    # every point of the evaluation curve came from the deterministic policy, stored nowhere; the evaluation
    # the worker died under was launched again, and only its second launch is on the curve
    assert len(evals["worker"].calls) == len(state["evals"]) + 1
    # launched only when due (after pre-training, every 3 episodes) or again after the death: the points are
    # 0, the relaunched one, and 6 (due, or the final evaluation if the relaunched one was still running), no
    # point twice (a relaunch after every evaluation would evaluate the same episode count again)
    points = [e["episodes"] for e in state["evals"]]
    assert len(points) in (2, 3) and points[0] == 0 and points[-1] == 6 and points == sorted(set(points)), points
    calls = evals["worker"].calls
    assert all(c.get("deterministic") is True and c.get("store") is False for c in calls), calls
    assert run.plot_path.stat().st_size > 10_000
    assert list(run.videos_dir.glob("eval_*.gif"))
    assert list(run.videos_dir.glob("openloop_*.gif"))  # diagnostics ran at learner step 20 and 40
    assert state["evals"][-1]["epsilon_u"] >= 0  # the model's uncertainty on the demos reached the curve
    assert (run.tb_dir / "learner").is_dir() and any((run.tb_dir / "driver").iterdir())
    assert "final success" in summary and run.summary_path.read_text() == summary
    assert "worker restarts        1  (and the evaluation worker 1x)" in summary
    # the summary says in what precision the learner ran: bf16 is automatic, so it depends on the CPU
    from moto_rl.learner.precision import bf16_hardware

    hardware = bf16_hardware(torch.device("cpu"))
    (line,) = [line for line in summary.splitlines() if line.strip().startswith("learner device ")]
    expected = f"cpu, bf16 autocast (automatic: {hardware})" if hardware else "cpu, fp32"
    assert line.split("learner device", 1)[1].strip() == expected


def test_scaling_a_live_run_up_and_down_keeps_the_ratio(ray_session, tmp_path, monkeypatch, caplog):
    from moto_rl.deploy.run import schedule as schedule_module
    from moto_rl.deploy.run.scale import request_scale

    overrides = tiny_overrides(tmp_path, "scaled") + [
        "workers.num_workers=1",
        "schedule.online_steps=20",
        "schedule.eval_every_episodes=0",
    ]
    cfg = load_config(overrides)
    run = RunDirectory.create(cfg)
    original, _ = checked_schedule(monkeypatch)

    def scale_during_run(self, length):
        due = original(self, length)
        if self.state.episodes == 2:
            request_scale(run.path, 2)
        if self.state.episodes == 4:  # more than this Ray's 4 CPUs hold (learner, evaluation worker, 2 workers)
            request_scale(run.path, 5)
        if self.state.episodes == 6:
            request_scale(run.path, 1)
        return due

    monkeypatch.setattr(schedule_module.Schedule, "record_episode", scale_during_run)
    driver = Driver(cfg, run)
    with caplog.at_level(logging.WARNING, logger="moto.driver"):
        driver.run()  # a worker that can never be placed would hang it here, waiting for its episode
    assert driver.max_in_flight.get(2) == 2  # two workers collected at once after scaling up
    assert set(driver.max_in_flight) == {1, 2}  # the request for 5 ran with the 2 that fit
    assert "moto scale asked for 5 rollout workers; the local Ray has room for 2" in caplog.text
    assert driver.fleet.size == 1  # and back down
    workers = {m.worker for _, m in online_episodes(run.store_url(cfg))}
    assert workers == {"worker-0", "worker-1"}
    state = run.read_schedule(run.latest_checkpoint())
    assert (state["episodes"], state["online_done"]) == (10, 20)  # G = 2 per episode throughout
