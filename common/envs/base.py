"""What every pixel environment shares: spaces, the episode clock, seeding and rendering."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from moto_rl.common.config import EnvConfig
from moto_rl.common.envs.rendering import Camera, Renderer
from moto_rl.common.tasks import TaskSpec


class PixelEnv(gym.Env):
    """A gymnasium env whose observation is a ``(size, size, 3)`` uint8 upright frame.

    Subclasses implement ``_reset_sim(rng) -> (state, info)`` and ``_step_sim(action) -> (state,
    reward, success, info)`` on the simulator, and expose ``_model``/``_data``. This class owns the
    agent-step clock (truncation at ``max_episode_steps``), the episode RNG and the renderer.
    """

    metadata = {"render_modes": ["rgb_array"]}
    render_mode = "rgb_array"

    def __init__(self, cfg: EnvConfig, task: TaskSpec, seed: int | None, action_dim: int) -> None:
        if cfg.image_size < 1 or cfg.action_repeat < 1 or cfg.max_episode_steps < 1:
            raise ValueError(
                "env.image_size, env.action_repeat and env.max_episode_steps must be positive; got "
                f"{cfg.image_size}, {cfg.action_repeat}, {cfg.max_episode_steps}."
            )
        self.cfg = cfg
        self.task = task
        size = cfg.image_size
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
        self._rng = np.random.default_rng(seed)
        if seed is not None:
            self.action_space.seed(seed)
        self._t = 0
        self._needs_reset = True
        self._frame: np.ndarray | None = None
        self._renderer: Renderer | None = None
        self._rotate = False

    # -- subclass hooks -------------------------------------------------------------------------
    def _reset_sim(self, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        raise NotImplementedError

    def _step_sim(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        raise NotImplementedError

    def _camera(self) -> Camera:
        raise NotImplementedError

    # -- gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode; ``seed=None`` continues this env's RNG stream (set at ``make_env``)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self.action_space.seed(seed)
        # One child generator per episode: the episode depends only on (env seed, episode index).
        state, info = self._reset_sim(np.random.default_rng(self._rng.integers(2**63)))
        self._t = 0
        self._needs_reset = False
        obs = self._render()
        info = {"success": False, "state": state, **info}
        return obs, info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._needs_reset:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset() first.")
        action = np.asarray(action, dtype=np.float32).reshape(self.action_space.shape)
        action = np.clip(np.nan_to_num(action), -1.0, 1.0)
        state, reward, success, info = self._step_sim(action)
        self._t += 1
        truncated = self._t >= self.cfg.max_episode_steps
        self._needs_reset = truncated
        obs = self._render()
        info = {"success": bool(success), "state": state, **info}
        return obs, float(reward), False, truncated, info

    def render(self) -> np.ndarray | None:
        """The last observed frame (gymnasium's ``rgb_array`` mode)."""
        return None if self._frame is None else self._frame.copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        super().close()

    # -- rendering ------------------------------------------------------------------------------
    def _render(self) -> np.ndarray:
        if self._renderer is None:  # made lazily so a closed-and-unused env never holds a GL context
            size = self.cfg.image_size
            self._renderer = Renderer(self._model, size, size, self._camera(), fast=self.cfg.fast_render)
            self._rotate = self._renderer.camera_up_is_down(self._data)
        # mj_step integrates *after* computing positions, so body/camera poses in data still describe
        # the pre-step state: recompute them so the frame shows the state qpos is in now.
        mujoco.mj_kinematics(self._model, self._data)
        mujoco.mj_camlight(self._model, self._data)
        frame = self._renderer.render(self._data)
        if self._rotate:
            frame = np.ascontiguousarray(frame[::-1, ::-1])
        self._frame = frame
        return frame
