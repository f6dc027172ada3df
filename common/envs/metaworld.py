"""MetaWorld v3 tasks from pixels, set up as in the paper authors' baseline code.

Action repeat, sparse success reward, the authors' free camera, a noisy hand start followed by
settling steps, and a random one of the task's 50 goal variations at every reset.
"""

from __future__ import annotations

import functools
from typing import Any

import metaworld
import numpy as np

from moto_rl.common.config import EnvConfig
from moto_rl.common.envs.base import PixelEnv
from moto_rl.common.envs.rendering import Camera, FreeCamera, ModelCamera
from moto_rl.common.tasks import TaskSpec

# The camera and reset of the paper authors' public baseline code (docs/environments.md).
PAPER_CAMERA = FreeCamera(distance=0.75, azimuth=15.0, elevation=-22.5, lookat=(-0.15, 0.65, 0.25))
HAND_START = np.array([0.1, 0.5, 0.30])
HAND_NOISE = 0.02
SETTLE_STEPS = 10  # zero-action simulator steps after the hand is placed
GOAL_SET_SEED = 0  # the 50 goal variations are the same in every process; the env seed picks among them


@functools.cache
def goal_variations(env_name: str) -> tuple:
    """The task's 50 goal variations (metaworld ``Task`` objects), built once per process."""
    return tuple(metaworld.MT1(env_name, seed=GOAL_SET_SEED).train_tasks)


class MetaWorldEnv(PixelEnv):
    def __init__(self, cfg: EnvConfig, task: TaskSpec, seed: int | None) -> None:
        super().__init__(cfg, task, seed, action_dim=4)
        env_name = task.env_id
        self._tasks = goal_variations(env_name)
        self._sim = metaworld.env_dict.ALL_V3_ENVIRONMENTS[env_name](render_mode=None)
        # The wrapper ends episodes itself; MetaWorld's own limit (500 steps, then it raises) must not.
        self._sim.max_path_length = 10**9
        self._model = self._sim.model
        self._data = self._sim.data
        self._sim.set_task(self._tasks[0])

    def _camera(self) -> Camera:
        name = self.cfg.camera
        return PAPER_CAMERA if name == "paper" else ModelCamera(name)

    def _reset_sim(self, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        self._sim.set_task(self._tasks[int(rng.integers(len(self._tasks)))])
        # metaworld places the hand at `hand_init_pos` in reset_model (its mocap is clipped to the
        # task's hand bounds at the first action; the settling steps absorb that).
        self._sim.hand_init_pos = HAND_START + HAND_NOISE * rng.standard_normal(3)
        self._sim.seed(int(rng.integers(2**31)))
        state, _ = self._sim.reset()
        zero = np.zeros(4, dtype=np.float32)
        for _ in range(SETTLE_STEPS):
            state, *_ = self._sim.step(zero)
        return np.asarray(state, dtype=np.float64), {}

    def _step_sim(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        success = False
        for _ in range(self.cfg.action_repeat):
            state, _, _, _, info = self._sim.step(action)
            success = success or bool(info["success"])
        # Sparse reward: 1 when the goal was achieved during this agent step (any simulator sub-step).
        return np.asarray(state, dtype=np.float64), float(success), success, {}

    def close(self) -> None:
        super().close()
        self._sim.close()
