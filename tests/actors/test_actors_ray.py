"""Ray workers: two write to one store with weights from a WeightBoard; a crash leaves no partial episode."""

import pytest
import ray
import torch

from moto_rl.actors.collect import collect_demos
from moto_rl.actors.weights import start_weight_board
from moto_rl.actors.worker import make_rollout_workers, wait_until_ready
from moto_rl.common.config_loading import load_config
from moto_rl.common.policy import Policy
from moto_rl.storage import TrajectoryStore

STEPS = 10

pytestmark = pytest.mark.ray
RAY_CPUS = 2  # ray_session (tests/conftest.py)


def _cfg():
    return load_config(["size=tiny", "task=metaworld/drawer-open", f"env.max_episode_steps={STEPS}"])


def test_two_workers_share_a_store_and_follow_the_board(ray_session, tmp_path, capfd):
    cfg = _cfg()
    url = str(tmp_path / "store")
    board, board_name = start_weight_board()
    workers = make_rollout_workers(cfg, url, board_name, n=2)
    first = ray.get([w.run.remote(1) for w in workers])
    # given the board's name, not its handle, Ray has no restart warning to log (ray-project/ray#53727)
    assert "constructor arguments in the object store" not in capfd.readouterr().err

    torch.manual_seed(0)
    weights_ref = ray.put(Policy(cfg.model, 4).net.state_dict())
    assert ray.get(board.publish.remote(3, [weights_ref]))
    assert not ray.get(board.publish.remote(2, [weights_ref]))  # never rolls back
    second = ray.get([w.run.remote(2) for w in workers])

    stats = [s for per_worker in first + second for s in per_worker]
    assert {s.worker for s in stats} == {"worker-0", "worker-1"}
    assert [s.policy_version for s in stats] == [-1, -1, 3, 3, 3, 3]
    assert len({s.seed for s in stats}) == 6
    store = TrajectoryStore.open(url)
    assert sorted(store.episode_ids()) == sorted(s.episode_id for s in stats)
    for s in stats:
        assert store.meta(s.episode_id).policy_version == s.policy_version
        assert store.read(s.episode_id).image.shape[0] == STEPS + 1
    info = ray.get(workers[0].info.remote())
    assert info["policy_version"] == 3 and info["episodes"] == 3
    assert info["torch_threads"] == 1 and info["LP_NUM_THREADS"] == "0"  # workers.render_threads=1
    for w in workers:
        ray.kill(w, no_restart=True)


def test_worker_killed_mid_episode_stores_nothing_partial_and_restarts(ray_session, tmp_path):
    cfg = _cfg()
    url = str(tmp_path / "store")
    # dies inside the 2nd episode (step 15 of 2 x 10), like a segfault in the simulator
    (worker,) = make_rollout_workers(cfg, url, n=1)
    worker = _with_failure(worker, cfg, url)
    pid_before = ray.get(worker.info.remote())["pid"]
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(worker.run.remote(3))
    store = TrajectoryStore.open(url)
    assert len(store.episode_ids()) == 1  # the finished first episode only
    assert store.read(store.episode_ids()[0]).image.shape[0] == STEPS + 1

    info = wait_until_ready(worker)  # Ray restarts the actor (max_restarts)
    (stat,) = ray.get(worker.run.remote(1))
    assert info["pid"] != pid_before and info["seed_salt"] != 0  # a new process with fresh seeds
    ids = TrajectoryStore.open(url).episode_ids()
    assert len(ids) == 2 and stat.episode_id in ids
    for eid in ids:
        assert TrajectoryStore.open(url).read(eid).image.shape[0] == STEPS + 1
    ray.kill(worker, no_restart=True)


def test_collect_demos_with_ray_workers(ray_session, tmp_path):
    cfg = _cfg()
    url = str(tmp_path / "demos")
    stats = collect_demos(cfg.env, "metaworld/drawer-open", 3, url, seed=1, workers=2)
    assert [s.worker for s in stats] == ["scripted-0", "scripted-1", "scripted-0"]
    store = TrajectoryStore.open(url)
    assert len(store.episode_ids()) == 3
    assert {store.meta(eid).source for eid in store.episode_ids()} == {"offline"}
    assert ray.is_initialized()  # it used the running session and left it running


def _with_failure(worker, cfg, url):
    """Replace a plain worker with one that has fault injection armed (same options)."""
    from moto_rl.actors.worker import RolloutWorker, worker_actor_options

    ray.kill(worker, no_restart=True)
    return RolloutWorker.options(**worker_actor_options(cfg)).remote(cfg, url, 0, None, False, 15)


def test_actors_bench_reports_its_figures(ray_session):
    from argparse import Namespace

    from moto_rl.actors.bench import run

    result = run(Namespace(workers=1, quick=True, size="tiny"))
    for key in ("fleet_env_steps_per_s", "single_process_env_steps_per_s", "efficiency", "policy_ms_per_step"):
        assert result[key] > 0, key
    assert result["workers"] == 1 and result["size"] == "tiny"
    assert 0 < result["policy_share"] < 1
    # the derived figures are the measured ones combined as documented (one worker: fleet / single)
    assert result["efficiency"] == pytest.approx(
        result["fleet_env_steps_per_s"] / result["single_process_env_steps_per_s"], rel=0.02
    )
    per_step_ms = 1000.0 / result["single_process_env_steps_per_s"]
    assert result["policy_share"] == pytest.approx(result["policy_ms_per_step"] / per_step_ms, rel=0.05, abs=0.002)
