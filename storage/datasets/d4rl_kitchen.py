"""D4RL Franka Kitchen HDF5 files (``kitchen-mixed-v0`` etc.) rendered to pixel episodes.

Layout: ``observations (N, 60)``, ``actions (N, 9)``, ``rewards (N,)``, ``terminals (N,)``,
``timeouts (N,)`` and where present ``infos/qpos (N, 30)``, ``infos/qvel (N, 29)``. Observation
layouts we map (checked by shape):

* 60 values (D4RL): robot qpos 9, object qpos 21, goal 30 -> qpos = obs[:30], qvel = 0;
* 59 values (gymnasium-robotics FrankaKitchen-v1): robot qpos 9, robot qvel 9, object qpos 21,
  object qvel 20.

``infos/qpos``/``infos/qvel``, when present, are the exact simulator states and are preferred.
A D4RL row is (s_t, a_t, r_t); an episode of rows [i, j) becomes frames of s_i..s_{j-1} and the
actions between them; the last row's action has no next state and is dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
)
from moto_rl.storage.datasets.kitchen_replay import (
    NA,
    NQ,
    NV,
    KitchenReplayer,
    KitchenStateSource,
    states_from_obs59,
    states_from_obs60,
)

OBS_LAYOUTS = {60: states_from_obs60, 59: states_from_obs59}
EXPECTED = "D4RL kitchen observations are (N, 60) (robot qpos 9, object qpos 21, goal 30) or FrankaKitchen-v1's (N, 59)"


class D4RLKitchenSource(KitchenStateSource):
    def __init__(self, path: str | Path, task_id: str, f: object, replayer: KitchenReplayer | None = None):
        self.path = Path(path)
        self.name = self.path.name
        self.task_id = task_id
        self.f = f
        where = str(self.path)
        require(
            f,
            ("observations", "actions"),
            where,
            "a D4RL kitchen file has observations, actions, rewards, terminals, timeouts",
        )
        if "terminals" not in f and "timeouts" not in f:
            raise UserError(f"{where} has neither 'terminals' nor 'timeouts', so its episodes cannot be told apart")
        obs, act = f["observations"], f["actions"]
        expect_shape(obs.shape, (None, None), f"{where}['observations']", EXPECTED)
        if obs.shape[1] not in OBS_LAYOUTS:
            expect_shape(obs.shape, (None, 60), f"{where}['observations']", EXPECTED)
        expect_shape(
            act.shape, (obs.shape[0], NA), f"{where}['actions']", "one 9-dim joint-velocity action per observation row"
        )
        self.layout = OBS_LAYOUTS[obs.shape[1]]
        self.exact = "infos" in f and "qpos" in f["infos"] and "qvel" in f["infos"]
        if self.exact:
            expect_shape(
                f["infos/qpos"].shape, (obs.shape[0], NQ), f"{where}['infos/qpos']", "one kitchen qpos per row"
            )
            expect_shape(
                f["infos/qvel"].shape, (obs.shape[0], NV), f"{where}['infos/qvel']", "one kitchen qvel per row"
            )
        self.bounds = episode_bounds(f, where)
        self._replayer = replayer

    def __len__(self) -> int:
        return len(self.bounds)

    def key(self, index: int) -> str:
        return source_key(self.name, index)

    def _arrays(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        start, stop = self.bounds[index]
        where = f"{self.path} episode {index} (rows {start}..{stop - 1})"
        rows = slice(start, stop)
        if self.exact:
            qpos = read(self.f["infos/qpos"], where, rows).astype(np.float64)
            qvel = read(self.f["infos/qvel"], where, rows).astype(np.float64)
        else:
            qpos, qvel = self.layout(read(self.f["observations"], where, rows).astype(np.float64))
        actions = read(self.f["actions"], where, slice(start, stop - 1)).astype(np.float32)
        return qpos, qvel, actions, where


def import_d4rl_kitchen(path: str | Path, task_id: str, store_url: str, progress: bool = True) -> ImportReport:
    """Render a D4RL kitchen file into ``store_url`` for ``task_id`` (kitchen/mixed or kitchen/partial)."""
    check_task(task_id, "kitchen")
    with open_hdf5(path) as f:
        source = D4RLKitchenSource(path, task_id, f)
        try:
            return run_import(source, store_url, progress)
        finally:
            source.close()
