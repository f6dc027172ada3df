"""Local Minari Franka Kitchen datasets (``D4RL/kitchen/mixed-v2`` layout) rendered to pixel episodes.

On disk (minari 0.5's writer): ``<dir>/data/metadata.json`` and ``<dir>/data/main_data.hdf5`` with
one group per episode, ``episode_<i>/observations/observation (T+1, 59)`` (FrankaKitchen-v1:
robot qpos 9, robot qvel 9, object qpos 21, object qvel 20), ``actions (T, 9)``, ``rewards``,
``terminations``, ``truncations`` (T,), and optional ``infos``. Observations already include the
reset state, so an episode maps row for row. ``infos/qpos``/``infos/qvel`` (T+1 rows), when
present, are exact simulator states and are preferred over the (slightly noisy) observation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.errors import UserError
from storage.datasets.importing import (
    ImportReport,
    check_task,
    expect_shape,
    open_hdf5,
    read,
    require,
    run_import,
    source_key,
)
from storage.datasets.kitchen_replay import NA, NQ, NV, KitchenReplayer, KitchenStateSource, states_from_obs59

EXPECTED = "a Minari kitchen observation is FrankaKitchen-v1's 59-dim 'observation' (robot qpos 9, qvel 9, object qpos 21, qvel 20)"


def data_dir(path: str | Path) -> Path:
    """The ``data`` folder of a Minari dataset directory (or the folder itself)."""
    path = Path(path)
    for candidate in (path / "data", path):
        if (candidate / "main_data.hdf5").is_file():
            return candidate
    raise UserError(f"{path} is not a Minari dataset directory: no data/main_data.hdf5 in it. "
                    "Give the dataset's folder, e.g. ~/.minari/datasets/D4RL/kitchen/mixed-v2")


class MinariKitchenSource(KitchenStateSource):
    def __init__(self, path: str | Path, task_id: str, f: object):
        self.dir = data_dir(path)
        self.name = (self.dir.parent if self.dir.name == "data" else self.dir).name
        self.task_id = task_id
        self.f = f
        meta_path = self.dir / "metadata.json"
        try:
            self.metadata = json.loads(meta_path.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read {meta_path} ({e}); a Minari dataset needs it") from None
        episodes = sorted((k for k in f.keys() if k.startswith("episode_")), key=lambda k: int(k.split("_")[1]))
        total = self.metadata.get("total_episodes")
        if total is not None and total != len(episodes):
            raise UserError(f"{self.dir}: metadata.json says {total} episodes, main_data.hdf5 has {len(episodes)}; "
                            "the dataset is incomplete (interrupted download?): fetch it again")
        self.episodes = episodes
        self._replayer: KitchenReplayer | None = None

    def __len__(self) -> int:
        return len(self.episodes)

    def key(self, index: int) -> str:
        return source_key(self.name, self.episodes[index].split("_")[1])

    def _arrays(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        name = self.episodes[index]
        where = f"{self.dir / 'main_data.hdf5'} {name}"
        g = self.f[name]
        require(g, ("observations", "actions"), where, "a Minari episode has observations, actions, rewards, terminations, truncations")
        obs_g = g["observations"]
        if not hasattr(obs_g, "keys") or "observation" not in obs_g:
            raise UserError(f"{where}: no observations/observation; {EXPECTED}")
        obs = read(obs_g["observation"], f"{where}/observations/observation")
        expect_shape(obs.shape, (None, 59), f"{where}/observations/observation", EXPECTED)
        actions = read(g["actions"], f"{where}/actions")
        expect_shape(actions.shape, (obs.shape[0] - 1, NA), f"{where}/actions", "T 9-dim actions for T+1 observations")
        infos = g.get("infos")
        if infos is not None and "qpos" in infos and "qvel" in infos:
            qpos = read(infos["qpos"], f"{where}/infos/qpos").astype(np.float64)
            qvel = read(infos["qvel"], f"{where}/infos/qvel").astype(np.float64)
            expect_shape(qpos.shape, (obs.shape[0], NQ), f"{where}/infos/qpos", "one kitchen qpos per observation")
            expect_shape(qvel.shape, (obs.shape[0], NV), f"{where}/infos/qvel", "one kitchen qvel per observation")
        else:
            qpos, qvel = states_from_obs59(obs.astype(np.float64))
        return qpos, qvel, actions.astype(np.float32), where



def import_minari_kitchen(path: str | Path, task_id: str, store_url: str, progress: bool = True) -> ImportReport:
    """Render a local Minari kitchen dataset into ``store_url`` for ``task_id``."""
    check_task(task_id, "kitchen")
    with open_hdf5(data_dir(path) / "main_data.hdf5") as f:
        source = MinariKitchenSource(path, task_id, f)
        try:
            return run_import(source, store_url, progress)
        finally:
            source.close()
