"""Pixel environments: every task renders upright, moving 64x64 frames; spaces, seeding, episode clock."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest

from moto_rl.common.envs import make_env
from moto_rl.common.envs.cli import task_env_config
from moto_rl.common.envs.rendering import FreeCamera, ModelCamera
from moto_rl.common.tasks import UnknownTaskError, all_task_ids

# Actions that move the arm in every suite: MetaWorld (dx, dy, dz, grip), Kitchen joint velocities.
ARM_MOTION = {"metaworld": np.array([1.0, -1.0, 1.0, 1.0]), "kitchen": np.array([1.0, 1.0, 0, 0, 0, 0, 0, 1, 1])}


def reference_frame(env, camera) -> np.ndarray:
    """The current state rendered by mujoco's own ``mujoco.Renderer`` (upright by construction), with the
    env's render settings. ``camera`` is a FreeCamera or ModelCamera; model cameras are not rotated."""
    size = env.cfg.image_size
    with mujoco.Renderer(env._model, size, size) as renderer:
        if env.cfg.fast_render:
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        if isinstance(camera, FreeCamera):
            cam = mujoco.MjvCamera()
            cam.type = mujoco.mjtCamera.mjCAMERA_FREE
            cam.distance, cam.azimuth, cam.elevation = camera.distance, camera.azimuth, camera.elevation
            cam.lookat[:] = camera.lookat
            renderer.update_scene(env._data, camera=cam)
        else:
            renderer.update_scene(env._data, camera=camera.name)
        return renderer.render().copy()


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def drawer_env():
    env = make_env(task_env_config("metaworld/drawer-open"), seed=0)
    yield env
    env.close()


@pytest.mark.parametrize("task_id", all_task_ids())
def test_every_task_renders_an_upright_frame_that_changes_when_the_arm_moves(task_id: str) -> None:
    env = make_env(task_env_config(task_id), seed=0)
    try:
        obs, info = env.reset()
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
        assert env.observation_space.contains(obs)
        assert obs.mean() > 20 and obs.std() > 10, "frame is black or blank"
        # Upright: the frame matches mujoco.Renderer's upright image of the same camera, not its flip.
        ref = reference_frame(env, env._camera())
        upright, flipped = mean_abs_diff(obs, ref), mean_abs_diff(obs[::-1], ref)
        assert upright < 1.0, f"frame differs from the upright reference by {upright:.1f} per pixel"
        assert flipped > upright + 10, "the scene is too symmetric for this check to tell up from down"
        assert mean_abs_diff(obs[:, ::-1], ref) > upright + 10  # and not mirrored left-right
        assert not info["success"] and info["state"].ndim == 1
        action = ARM_MOTION[env.task.suite].astype(np.float32)
        for _ in range(5):
            moved, reward, terminated, truncated, info = env.step(action)
        changed = (np.abs(moved.astype(np.int16) - obs.astype(np.int16)).max(axis=-1) > 30).sum()
        assert changed >= 20, f"only {changed} pixels changed after moving the arm"
        assert moved.mean() > 20
        assert isinstance(reward, float) and not terminated and not truncated
    finally:
        env.close()


def test_upside_down_model_camera_is_rotated_upright() -> None:
    # MetaWorld's corner cameras look with their 'up' pointing at the floor; frames must come out turned.
    env = make_env(dataclasses.replace(task_env_config("metaworld/drawer-open"), camera="corner"), seed=0)
    try:
        obs, _ = env.reset()
        raw = reference_frame(env, ModelCamera("corner"))  # upside-down, as the camera sees it
        assert mean_abs_diff(obs, raw[::-1, ::-1]) < 1.0
        assert mean_abs_diff(obs, raw) > 10
    finally:
        env.close()


def test_action_and_observation_spaces() -> None:
    for task_id, dim in (("metaworld/hammer", 4), ("kitchen/partial", 9)):
        cfg = task_env_config(task_id)
        env = make_env(cfg, seed=0)
        try:
            space = env.action_space
            assert (space.shape, space.dtype) == ((dim,), np.float32)
            assert np.all(space.low == -1) and np.all(space.high == 1)
            assert (env.observation_space.shape, env.observation_space.dtype) == ((64, 64, 3), np.uint8)
            assert env.task.task_id == task_id and env.task.action_dim == dim
            env.reset()
            with pytest.raises(ValueError):
                env.step(np.zeros(dim + 1, dtype=np.float32))  # wrong shape is an error, not a silent reshape
            # Out-of-range actions are clipped to the box rather than passed to the simulator.
            obs, reward, *_ = env.step(np.full(dim, 5.0, dtype=np.float32))
            assert obs.dtype == np.uint8 and np.isfinite(reward)
        finally:
            env.close()


def test_unknown_task_fails_with_the_valid_list() -> None:
    cfg = dataclasses.replace(task_env_config("metaworld/drawer-open"), task="metaworld/drawer-opn")
    with pytest.raises(UnknownTaskError) as err:
        make_env(cfg)
    message = str(err.value)
    assert "metaworld/drawer-opn" in message and "Did you mean metaworld/drawer-open" in message
    assert all(task_id in message for task_id in all_task_ids())


def test_metaworld_truncates_at_100_agent_steps_of_2_simulator_steps(drawer_env) -> None:
    cfg = drawer_env.cfg
    assert (cfg.max_episode_steps, cfg.action_repeat) == (100, 2)  # the task preset's values
    drawer_env.reset()
    start = drawer_env._sim.curr_path_length
    zero = np.zeros(4, dtype=np.float32)
    for t in range(1, 100):
        *_, terminated, truncated, _ = drawer_env.step(zero)
        assert not terminated and not truncated, f"episode ended early at agent step {t}"
    *_, truncated, _ = drawer_env.step(zero)
    assert truncated
    assert drawer_env._sim.curr_path_length - start == 200
    with pytest.raises(RuntimeError, match="reset"):
        drawer_env.step(zero)


def _rollout(env, seed: int | None, steps: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    obs, info = env.reset(seed=seed)
    frames, states = [obs], [info["state"]]
    actions = np.random.default_rng(11).uniform(-1, 1, (steps, *env.action_space.shape)).astype(np.float32)
    for action in actions:
        obs, _, _, _, info = env.step(action)
        frames.append(obs)
        states.append(info["state"])
    return frames, states


def test_same_seed_same_episode(drawer_env) -> None:
    cfg = task_env_config("metaworld/drawer-open")
    twin = make_env(cfg, seed=0)
    try:
        frames_a, states_a = _rollout(drawer_env, seed=5)
        frames_b, states_b = _rollout(twin, seed=5)  # reset(seed=5) re-seeds both envs alike
        assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b, strict=False))
        assert all(np.array_equal(a, b) for a, b in zip(states_a, states_b, strict=False))
        # A different seed picks another goal variation and hand start: another episode.
        frames_c, states_c = _rollout(twin, seed=6)
        assert not np.allclose(states_a[0], states_c[0])
        assert not np.array_equal(frames_a[0], frames_c[0])
    finally:
        twin.close()


def test_make_env_seed_fixes_the_episode_stream() -> None:
    cfg = task_env_config("metaworld/plate-slide")
    runs = []
    for seed in (3, 3, 4):
        env = make_env(cfg, seed=seed)
        try:
            first = env.reset()[1]["state"]
            second = env.reset()[1]["state"]  # seed=None continues the env's stream
            runs.append((first, second))
        finally:
            env.close()
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert not np.allclose(runs[0][0], runs[0][1])  # episodes within a stream differ
    assert not np.allclose(runs[0][0], runs[2][0])
