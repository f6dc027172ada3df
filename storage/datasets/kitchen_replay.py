"""Replay recorded Franka Kitchen simulator states into pixel episodes.

Both kitchen importers reduce their files to per-step simulator states ``qpos (T+1, 30)``,
``qvel (T+1, 29)`` and actions ``(T, 9)``; this module checks that the states are kitchen states,
renders each one with ``KitchenEnv.set_state`` (the frame a live episode shows at that state) and
recomputes the paper's reward (target objects in place, 0..4) and the behaviour-prior flag for the
chosen task through the same ``EpisodeBuilder`` that live rollouts use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from moto_rl.common.episode import Episode, EpisodeBuilder, EpisodeMeta
from moto_rl.common.errors import UserError

NQ, NV, NA = 30, 29, 9  # FrankaKitchen-v1: robot 9 + objects 21 qpos; 9 + 20 qvel; 9 joint velocities
KETTLE_QUAT = slice(26, 30)  # the kettle's free joint: qpos 23..25 position, 26..29 quaternion
RANGE_SLACK = 0.25  # recorded states overshoot joint limits a little (soft constraints, noise)


def states_from_obs59(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FrankaKitchen-v1 'observation' rows (robot qpos 9, robot qvel 9, object qpos 21, object qvel 20)
    as simulator ``(qpos (N, 30), qvel (N, 29))``."""
    qpos = np.concatenate([obs[:, 0:9], obs[:, 18:39]], axis=1)
    qvel = np.concatenate([obs[:, 9:18], obs[:, 39:59]], axis=1)
    return qpos, qvel


def states_from_obs60(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """D4RL kitchen rows (robot qpos 9, object qpos 21, goal 30): positions only, so velocities are 0
    (a frame depends on positions alone)."""
    return obs[:, :NQ].copy(), np.zeros((obs.shape[0], NV))


class KitchenReplayer:
    """One ``KitchenEnv`` (64x64, the task preset's camera) that turns state sequences into episodes."""

    def __init__(self, task_id: str, seed: int = 0):
        from moto_rl.common.config_loading import load_config
        from moto_rl.common.envs import make_env

        self.task_id = task_id
        self.env: Any = make_env(load_config([f"task={task_id}"]).env, seed)
        model = self.env._model  # joint limits of the kitchen model, for the state check
        limited = model.jnt_limited.astype(bool)
        self._adr = model.jnt_qposadr[limited]
        self._lo = model.jnt_range[limited, 0] - RANGE_SLACK
        self._hi = model.jnt_range[limited, 1] + RANGE_SLACK
        self._bc = self.env.task.bc_filter_objects

    def check(self, qpos: np.ndarray, qvel: np.ndarray, actions: np.ndarray, where: str) -> None:
        """Raise ``UserError`` unless these are T+1 kitchen states with T kitchen actions."""
        n = qpos.shape[0]
        if qpos.shape != (n, NQ) or qvel.shape != (n, NV) or actions.shape != (n - 1, NA):
            raise UserError(
                f"{where}: expected qpos (T+1, {NQ}), qvel (T+1, {NV}) and actions (T, {NA}); "
                f"got {qpos.shape}, {qvel.shape} and {actions.shape}"
            )
        if n < 2:
            raise UserError(f"{where}: an episode needs at least 2 states, got {n}")
        for name, arr in (("states", qpos), ("velocities", qvel), ("actions", actions)):
            if not np.isfinite(arr).all():
                raise UserError(f"{where}: {name} contain NaN or infinite values")
        joints = qpos[:, self._adr]
        bad = np.flatnonzero(((joints < self._lo) | (joints > self._hi)).any(axis=0))
        quat = np.linalg.norm(qpos[:, KETTLE_QUAT], axis=1)
        if bad.size or np.abs(quat - 1).max() > 0.1:
            cause = (
                f"qpos entries {self._adr[bad].tolist()} leave the kitchen model's joint limits"
                if bad.size
                else f"the kettle quaternion (qpos 26..29) has norm {quat.min():.2f}..{quat.max():.2f}, not 1"
            )
            raise UserError(
                f"{where}: these are not Franka Kitchen states ({cause}); "
                "is this a dataset of another environment, or is its observation layout different?"
            )

    def episode(self, qpos: np.ndarray, qvel: np.ndarray, actions: np.ndarray, meta: EpisodeMeta) -> Episode:
        """Render every state; reward[t] = target objects in place at state t (reward[0] = 0)."""
        builder = EpisodeBuilder(NA)
        for t in range(qpos.shape[0]):
            frame = self.env.set_state(qpos[t], qvel[t])
            completion = self.env.completion()
            info = {"completion": completion, "success": all(completion[o] for o in self._bc)}
            if t == 0:
                builder.reset(frame, info)
            else:
                builder.step(actions[t - 1], frame, float(sum(completion.values())), False, info)
        return builder.build(meta)

    def close(self) -> None:
        self.env.close()


class KitchenStateSource:
    """Shared by the kitchen importers: a source of (qpos, qvel, actions) per episode, replayed and
    rendered by one lazily built ``KitchenReplayer``. Subclasses set ``task_id`` and define
    ``__len__``, ``key`` and ``_arrays(index) -> (qpos, qvel, actions, where)``."""

    task_id: str
    _replayer: KitchenReplayer | None = None

    @property
    def replayer(self) -> KitchenReplayer:
        if self._replayer is None:
            self._replayer = KitchenReplayer(self.task_id)
        return self._replayer

    def _arrays(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        raise NotImplementedError

    def check(self, index: int) -> None:
        qpos, qvel, actions, where = self._arrays(index)
        self.replayer.check(qpos, qvel, actions, where)

    def episode(self, index: int) -> Episode:
        qpos, qvel, actions, _ = self._arrays(index)
        return self.replayer.episode(qpos, qvel, actions, EpisodeMeta(task=self.task_id, source="offline"))

    def close(self) -> None:
        if self._replayer is not None:
            self._replayer.close()
            self._replayer = None
