"""RolloutWorkerCore with a real env and a tiny Policy, no Ray: weight pickup, meta, row counts, seeds."""

import numpy as np
import pytest
import torch

from moto_rl.actors.weights import StaticWeightSource
from moto_rl.actors.worker import RolloutWorkerCore, derive_seed
from moto_rl.common.config_loading import load_config
from moto_rl.common.policy import Policy
from moto_rl.storage import TrajectoryStore


def _cfg(*overrides):
    return load_config(["size=tiny", "task=metaworld/drawer-open", *overrides])


def _weights(cfg, seed):
    torch.manual_seed(seed)
    return Policy(cfg.model, 4).net.state_dict()


def test_new_version_is_picked_up_between_episodes_and_recorded(tmp_path):
    cfg = _cfg()  # 100 agent steps per episode
    source = StaticWeightSource()
    url = str(tmp_path / "store")
    core = RolloutWorkerCore(cfg, url, index=1, weight_source=source)
    (first,) = core.run(1)
    assert first.policy_version == -1 and first.length == 100

    new = _weights(cfg, 123)
    source.publish(4, new)
    (second,) = core.run(1)
    assert second.policy_version == 4 == core.agent.version
    key = "actor.net.0.weight" if "actor.net.0.weight" in new else next(iter(new))
    torch.testing.assert_close(core.agent.policy.net.state_dict()[key], new[key])

    store = TrajectoryStore.open(url)
    metas = {eid: store.meta(eid) for eid in store.episode_ids()}
    assert [metas[s.episode_id].policy_version for s in (first, second)] == [-1, 4]
    for s in (first, second):
        meta = metas[s.episode_id]
        assert meta.source == "online" and meta.worker == "worker-1" and meta.seed == s.seed
        ep = store.read(s.episode_id)
        assert ep.image.shape[0] == ep.action.shape[0] == ep.reward.shape[0] == 101  # T+1 rows
        assert np.abs(ep.action[1:]).max() <= 1.0 and np.abs(ep.action[1:]).max() > 0
    core.close()


def test_steps_sync_changes_weights_inside_an_episode():
    cfg = _cfg("env.max_episode_steps=10", "workers.weight_sync=steps", "workers.weight_sync_steps=4")
    source = StaticWeightSource()
    core = RolloutWorkerCore(cfg, None, weight_source=source)
    source.publish(2, _weights(cfg, 5))
    (stat,) = core.run(1, store=False)
    # the first action came from the initial weights; the poll after 4 steps loaded version 2
    assert (stat.policy_version, stat.policy_version_end, stat.episode_id) == (-1, 2, None)
    core.close()


def test_two_envs_per_worker_render_their_own_frames(tmp_path):
    cfg = _cfg("env.max_episode_steps=5", "workers.envs_per_worker=2")
    core = RolloutWorkerCore(cfg, str(tmp_path / "s"))
    a, b = core.run(2)
    store = TrajectoryStore.open(str(tmp_path / "s"))
    img_a, img_b = store.read(a.episode_id).image, store.read(b.episode_id).image
    assert img_a.std() > 0 and img_b.std() > 0  # no black frames from a stale GL context
    assert not np.array_equal(img_a, img_b)  # each env rendered its own scene
    core.close()


def test_two_envs_per_worker_batch_and_eval_frames():
    cfg = _cfg("env.max_episode_steps=10", "workers.envs_per_worker=2")
    core = RolloutWorkerCore(cfg, None, index=0)
    core.load_weights(1, _weights(cfg, 1))
    stats = core.run(3, deterministic=True, source="eval", store=False, record_frames=True)
    assert [s.length for s in stats] == [10, 10, 10]
    assert {s.source for s in stats} == {"eval"} and {s.policy_version for s in stats} == {1}
    assert len({s.seed for s in stats}) == 3
    assert stats[0].frames.shape == (11, 64, 64, 3) and stats[0].frames.dtype == np.uint8
    assert stats[1].frames is None
    assert core.total_env_steps == 30
    core.close()


class RecordingPolicy(Policy):
    """The real policy, remembering how it was asked to act and what it answered."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []  # (deterministic, actions (N, A))

    def act(self, images, is_first, state, deterministic=False):
        actions, state = super().act(images, is_first, state, deterministic=deterministic)
        self.calls.append((deterministic, actions.copy()))
        return actions, state


def test_deterministic_run_executes_the_policy_mode_and_exploration_adds_noise(tmp_path):
    """Evaluation (deterministic=True) must execute the policy's mode untouched, even with exploration
    noise configured; a training rollout asks for a sample and executes it with noise."""
    cfg = _cfg("env.max_episode_steps=6", "workers.exploration_std=0.3")
    core = RolloutWorkerCore(cfg, str(tmp_path / "s"), index=0, policy_factory=lambda c, a: RecordingPolicy(c.model, a))
    core.load_weights(0, _weights(cfg, 9))
    policy = core.agent.policy
    for deterministic in (True, False):
        policy.calls.clear()
        (stat,) = core.run(1, deterministic=deterministic)
        # (T, A): row t+1 holds the action taken at t
        executed = TrajectoryStore.open(str(tmp_path / "s")).read(stat.episode_id).action[1:]
        asked = np.concatenate([a for _, a in policy.calls])  # (T, A)
        assert {d for d, _ in policy.calls} == {deterministic}
        if deterministic:
            np.testing.assert_array_equal(executed, asked)
        else:
            assert np.abs(executed - asked).mean() > 0.1  # noise of std 0.3 (clipped to [-1, 1])
    core.close()


def test_workers_get_distinct_reproducible_seeds():
    cfg = _cfg("env.max_episode_steps=6", "workers.exploration_std=0.3")
    weights = _weights(cfg, 9)
    runs = []
    for index in (0, 0, 1):
        core = RolloutWorkerCore(cfg, None, index=index)
        core.load_weights(0, weights)
        stat = core.run(1, deterministic=True, store=False, record_frames=True)[0]
        runs.append(stat)
        core.close()
    assert runs[0].seed == runs[1].seed == derive_seed(cfg.seed, 0, 0, 0)
    np.testing.assert_array_equal(runs[0].frames, runs[1].frames)
    assert runs[2].seed != runs[0].seed


def test_exploration_noise_reaches_executed_actions():
    cfg = _cfg("env.max_episode_steps=3", "workers.exploration_std=0.5")
    core = RolloutWorkerCore(cfg, None)
    core.load_weights(0, _weights(cfg, 2))
    images = np.zeros((1, 64, 64, 3), np.uint8)
    first = np.ones(1, bool)
    clean = core.agent.policy.act(images, first, core.agent.policy.initial_state(1), deterministic=True)[0]
    noisy = core.agent.act(images, [{}], first, deterministic=False)
    assert np.abs(noisy).max() <= 1.0
    assert not np.allclose(noisy, clean, atol=1e-3)
    # the recurrent state remembers the action the env actually got, noise included
    np.testing.assert_allclose(core.agent.state.action.numpy(), noisy, atol=1e-6)
    core.close()


def test_weights_of_another_shape_are_refused_and_the_policy_keeps_its_own():
    cfg = _cfg("env.max_episode_steps=2")
    core = RolloutWorkerCore(cfg, None)
    good = _weights(cfg, 0)
    core.load_weights(0, good)
    prefixed = {f"net.{k}": v for k, v in _weights(cfg, 1).items()}  # not the PolicyNet's own keys
    with pytest.raises(RuntimeError, match="Missing key"):
        core.load_weights(1, prefixed)
    assert core.agent.version == 0
    smaller = dict(good, **{"actor.net.0.weight": good["actor.net.0.weight"][:, :-1]})
    with pytest.raises(RuntimeError, match="size mismatch"):
        core.load_weights(2, smaller)
    assert core.agent.version == 0
    core.close()


def test_store_url_required_to_store():
    cfg = _cfg("env.max_episode_steps=2")
    core = RolloutWorkerCore(cfg, None)
    with pytest.raises(ValueError, match="no store URL"):
        core.run(1)
    core.close()
