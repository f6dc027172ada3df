"""Generic D4RL-format HDF5 files whose observations are images.

Keys: ``observations (N, 64, 64, 3)`` or ``(N, 3, 64, 64)`` uint8, ``actions (N, A)``,
``rewards (N,)``, ``terminals``/``timeouts (N,)``, optional ``infos/success (N,)``. A D4RL row is
(s_t, a_t, r_t, done_t): reward r_t is received on reaching s_{t+1}, so an episode of rows [i, j)
becomes frames s_i..s_{j-1} with action[t] = a_{i+t-1} and reward[t] = r_{i+t-1}; the last row's
transition has no next frame and is dropped. The episode's last frame is terminal when the file
flags its last row in ``terminals`` (a timeout is a truncation, not terminal).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from moto_rl.common.episode import Episode, EpisodeMeta
from moto_rl.common.errors import UserError
from moto_rl.storage.datasets.d4rl_splits import episode_bounds
from moto_rl.storage.datasets.importing import (
    ImportReport,
    check_task,
    expect_shape,
    open_hdf5,
    read,
    require,
    run_import,
    source_key,
    step_success,
)

EXPECTED = "image observations are (N, 64, 64, 3) or (N, 3, 64, 64) uint8"


class D4RLImageSource:
    def __init__(self, path: str | Path, task_id: str, f: object):
        self.path = Path(path)
        self.name = self.path.name
        self.task_id = task_id
        self.f = f
        where = str(self.path)
        require(
            f,
            ("observations", "actions", "rewards"),
            where,
            "a D4RL file has observations, actions, rewards, terminals, timeouts",
        )
        obs = f["observations"]
        n = obs.shape[0]
        if obs.ndim == 4 and obs.shape[1:] == (3, 64, 64):
            self.channels_first = True
        else:
            expect_shape(obs.shape, (n, 64, 64, 3), f"{where}['observations']", EXPECTED)
            self.channels_first = False
        if obs.dtype != np.uint8:
            raise UserError(f"{where}['observations'] is {obs.dtype}; {EXPECTED}")
        expect_shape(f["actions"].shape, (n, None), f"{where}['actions']", "one action per observation row")
        expect_shape(f["rewards"].shape, (n,), f"{where}['rewards']", "one reward per observation row")
        self.has_success = "infos" in f and "success" in f["infos"]
        self.bounds = episode_bounds(f, where)

    def __len__(self) -> int:
        return len(self.bounds)

    def key(self, index: int) -> str:
        return source_key(self.name, index)

    def check(self, index: int) -> None:
        start, stop = self.bounds[index]
        read(self.f["observations"], f"{self.path} episode {index}", slice(start, stop))

    def episode(self, index: int) -> Episode:
        start, stop = self.bounds[index]
        where = f"{self.path} episode {index}"
        f = self.f
        image = read(f["observations"], where, slice(start, stop))
        if self.channels_first:
            image = image.transpose(0, 2, 3, 1)
        n = stop - start
        acts = read(f["actions"], where, slice(start, stop - 1)).astype(np.float32)
        action = np.concatenate([np.zeros((1, acts.shape[1]), np.float32), acts])
        reward = np.concatenate([[0.0], read(f["rewards"], where, slice(start, stop - 1))]).astype(np.float32)
        terminal = np.zeros(n, bool)
        if "terminals" in f:
            terminal[-1] = bool(read(f["terminals"], where, stop - 1))
        if self.has_success:
            success = np.concatenate([[False], read(f["infos/success"], where, slice(start, stop - 1)).astype(bool)])
        else:
            success = step_success(self.task_id, reward)
        meta = EpisodeMeta(task=self.task_id, source="offline", success=bool(success.any()))
        return Episode(
            image=np.ascontiguousarray(image),
            action=action,
            reward=reward,
            is_terminal=terminal,
            step_success=success,
            meta=meta,
        )


def import_d4rl_images(path: str | Path, task_id: str, store_url: str, progress: bool = True) -> ImportReport:
    check_task(task_id)
    with open_hdf5(path) as f:
        return run_import(D4RLImageSource(path, task_id, f), store_url, progress)
