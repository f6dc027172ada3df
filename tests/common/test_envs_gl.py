"""GL context safety of the pixel envs: garbage collection of old envs, several live envs, the backend."""

from __future__ import annotations

import dataclasses
import gc

import numpy as np
import pytest

from common.envs import make_env, set_gl_backend
from common.envs.cli import task_env_config
from common.errors import UserError

MW = "metaworld/drawer-open"


def actions(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, dim)).astype(np.float32)


def rollout(env, seed: int, acts: np.ndarray) -> list[np.ndarray]:
    frames = [env.reset(seed=seed)[0]]
    frames += [env.step(a)[0] for a in acts]
    return frames


@pytest.fixture(scope="module")
def mw_env():
    env = make_env(task_env_config(MW), seed=0)
    yield env
    env.close()


@pytest.fixture(scope="module")
def kitchen_env():
    env = make_env(task_env_config("kitchen/mixed"), seed=0)
    yield env
    env.close()


def test_frames_survive_garbage_collection_of_an_older_env() -> None:
    """Pitfall: an old env collected after a newer env made its GL context blacked out the new env."""
    acts = actions(6, 4, seed=1)
    old = make_env(task_env_config(MW), seed=0)
    old.reset(seed=0)
    old.step(acts[0])  # `old` now owns a live GL context, created first
    new = make_env(task_env_config(MW), seed=0)
    before = rollout(new, 3, acts)
    del old
    gc.collect()
    after = rollout(new, 3, acts)
    new.close()
    alone_env = make_env(task_env_config(MW), seed=0)
    alone = rollout(alone_env, 3, acts)
    alone_env.close()
    for b, a, ref in zip(before, after, alone):
        assert a.mean() > 30, "black frame after the old env was garbage-collected"
        np.testing.assert_array_equal(a, ref)
        np.testing.assert_array_equal(b, ref)


def test_frames_survive_an_older_env_closed_explicitly(mw_env) -> None:
    acts = actions(3, 4, seed=5)
    ref = rollout(mw_env, 4, acts)
    other = make_env(dataclasses.replace(task_env_config(MW), fast_render=False), seed=0)
    other.reset(seed=0)
    other.close()
    other.close()  # idempotent
    np.testing.assert_array_equal(np.stack(rollout(mw_env, 4, acts)), np.stack(ref))


def test_two_live_envs_interleaved_render_as_each_alone(mw_env, kitchen_env) -> None:
    """Pitfall: with several live envs, MuJoCo draws with whichever GL context was made current last."""
    mw_acts, k_acts = actions(5, 4, seed=2), actions(5, 9, seed=3)
    mw_alone = rollout(mw_env, 7, mw_acts)
    k_alone = rollout(kitchen_env, 8, k_acts)
    mw_frames = [mw_env.reset(seed=7)[0]]
    k_frames = [kitchen_env.reset(seed=8)[0]]
    for a, b in zip(mw_acts, k_acts):
        mw_frames.append(mw_env.step(a)[0])
        k_frames.append(kitchen_env.step(b)[0])
    for got, ref in zip(mw_frames + k_frames, mw_alone + k_alone):
        assert got.mean() > 30
        np.testing.assert_array_equal(got, ref)


def test_fast_and_default_render_show_the_same_scene(mw_env) -> None:
    default = make_env(dataclasses.replace(task_env_config(MW), fast_render=False), seed=0)
    try:
        slow, _ = default.reset(seed=9)
        fast, _ = mw_env.reset(seed=9)
    finally:
        default.close()
    diff = np.abs(slow.astype(int) - fast.astype(int)).mean()
    assert 0 < diff < 20, f"fast and default looks differ by {diff:.1f} per pixel: not the same scene?"


def test_gl_backend_cannot_change_after_mujoco_import(mw_env) -> None:
    set_gl_backend("egl")  # the backend in use: fine
    with pytest.raises(UserError, match="MUJOCO_GL=osmesa"):
        set_gl_backend("osmesa")
    with pytest.raises(UserError, match="egl"):
        set_gl_backend("vulkan")
