"""Franka Kitchen (gymnasium-robotics ``FrankaKitchen-v1``) from pixels, with the paper's dense reward.

The reward is the number of target objects in their goal configuration *now* (0..4), computed here
from gymnasium-robotics' own goal values and threshold; its built-in reward (tasks completed in this
step, with completed tasks removed) is not used. Dataset importers can replay recorded simulator
states through ``set_state(qpos, qvel)``, which renders the frame a live episode would have shown.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from moto_rl.common.config import EnvConfig
from moto_rl.common.envs.base import PixelEnv
from moto_rl.common.envs.rendering import Camera, FreeCamera, ModelCamera
from moto_rl.common.envs.robotics import (  # gymnasium-robotics without its unrelated Adroit notice
    BONUS_THRESH,
    DEFAULT_CAMERA_CONFIG,
    OBS_ELEMENT_GOALS,
    OBS_ELEMENT_INDICES,
    gymnasium_robotics,
)
from moto_rl.common.tasks import TaskSpec

gym.register_envs(gymnasium_robotics)

# The whole-scene free camera of gymnasium-robotics (distance 2.2, azimuth 70, elevation -35).
SCENE_CAMERA = FreeCamera(
    distance=float(DEFAULT_CAMERA_CONFIG["distance"]),
    azimuth=float(DEFAULT_CAMERA_CONFIG["azimuth"]),
    elevation=float(DEFAULT_CAMERA_CONFIG["elevation"]),
    lookat=tuple(float(v) for v in DEFAULT_CAMERA_CONFIG["lookat"]),
)
ROBOT_DOF = 9  # 7 arm joints + 2 gripper fingers lead qpos (9) and qvel (9)


def goal_distance(qpos: np.ndarray, obj: str) -> float:
    """How far ``obj``'s joints in ``qpos`` are from their goal (gymnasium-robotics' measure)."""
    return float(np.linalg.norm(qpos[OBS_ELEMENT_INDICES[obj]] - OBS_ELEMENT_GOALS[obj]))


def goal_reached(qpos: np.ndarray, obj: str) -> bool:
    """Whether ``obj``'s joints in ``qpos`` are within gymnasium-robotics' threshold of its goal."""
    return goal_distance(qpos, obj) < BONUS_THRESH


def split_state(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 59-dim observation (robot qpos 9, robot qvel 9, object qpos 21, object qvel 20) as the
    simulator's ``(qpos (30,), qvel (29,))``. Observation noise (about 1e-3) stays in the result."""
    state = np.asarray(state, dtype=np.float64)
    if state.shape != (59,):
        raise ValueError(
            f"a Franka Kitchen state has 59 values (FrankaKitchen-v1 'observation'); got shape {state.shape}."
        )
    qpos = np.concatenate([state[:ROBOT_DOF], state[2 * ROBOT_DOF : 2 * ROBOT_DOF + 21]])
    qvel = np.concatenate([state[ROBOT_DOF : 2 * ROBOT_DOF], state[2 * ROBOT_DOF + 21 :]])
    return qpos, qvel


class KitchenEnv(PixelEnv):
    """``kitchen/mixed`` or ``kitchen/partial``: 9-dim joint-velocity actions, reward 0..4 per step.

    ``info["completion"]`` says for each target object whether it is in its goal configuration now;
    ``info["success"]`` is true when all of ``task.bc_filter_objects`` are.
    """

    def __init__(self, cfg: EnvConfig, task: TaskSpec, seed: int | None) -> None:
        super().__init__(cfg, task, seed, action_dim=task.action_dim)
        unknown = [o for o in task.objects if o not in OBS_ELEMENT_GOALS]
        if unknown:
            raise ValueError(
                f"{task.task_id}: objects {unknown} are not Franka Kitchen tasks ({', '.join(OBS_ELEMENT_GOALS)})."
            )
        # Our wrapper owns the clock, the reward and termination; gymnasium-robotics' bookkeeping is off.
        self._wrapped = gym.make(
            "FrankaKitchen-v1",
            tasks_to_complete=list(task.objects),
            terminate_on_tasks_completed=False,
            remove_task_when_completed=False,
            render_mode=None,
        )
        self._sim = self._wrapped.unwrapped
        self._robot = self._sim.robot_env
        self._model = self._robot.model
        self._data = self._robot.data

    def _camera(self) -> Camera:
        name = self.cfg.kitchen_camera
        return SCENE_CAMERA if name == "scene" else ModelCamera(name)

    # -- rewards ---------------------------------------------------------------------------------
    def completion(self) -> dict[str, bool]:
        """For each target object: is it in its goal configuration in the current simulator state?"""
        qpos = self._data.qpos
        return {obj: goal_reached(qpos, obj) for obj in self.task.objects}

    def _outcome(self) -> tuple[float, bool, dict[str, Any]]:
        completion = self.completion()
        success = all(completion[o] for o in self.task.bc_filter_objects)
        return float(sum(completion.values())), success, {"completion": completion}

    # -- simulator hooks ---------------------------------------------------------------------------
    def _reset_sim(self, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        # The start pose is fixed; the seed drives gymnasium-robotics' observation noise.
        obs, _ = self._sim.reset(seed=int(rng.integers(2**31)))
        _, _, info = self._outcome()
        return np.asarray(obs["observation"], dtype=np.float64), info

    def _step_sim(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        for _ in range(self.cfg.action_repeat):
            obs, *_ = self._sim.step(action.astype(np.float64))
        reward, success, info = self._outcome()
        return np.asarray(obs["observation"], dtype=np.float64), reward, success, info

    # -- replaying recorded states ------------------------------------------------------------------
    def set_state(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """Put the simulator in state ``(qpos (30,), qvel (29,))`` and return its frame (H, W, 3) uint8.

        For dataset importers: a recorded 59-dim observation gives the state via ``split_state``.
        The episode clock is untouched; a following ``step`` continues from this state (the arm
        holds its pose under a zero action).
        """
        qpos = np.asarray(qpos, dtype=np.float64)
        qvel = np.asarray(qvel, dtype=np.float64)
        if qpos.shape != (self._model.nq,) or qvel.shape != (self._model.nv,):
            raise ValueError(
                f"set_state needs qpos ({self._model.nq},) and qvel ({self._model.nv},); got {qpos.shape} and "
                f"{qvel.shape}. From a 59-dim kitchen observation use moto_rl.common.envs.kitchen.split_state."
            )
        self._robot.set_state(qpos, qvel)  # also runs mj_forward
        # FrankaRobot turns velocity actions into position targets from the last observed arm pose;
        # without this the next step would pull the arm back to where it was before.
        self._robot._last_robot_qpos = qpos[:ROBOT_DOF].copy()
        return self._render().copy()

    def close(self) -> None:
        super().close()
        self._wrapped.close()
