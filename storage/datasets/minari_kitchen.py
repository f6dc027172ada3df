"""Franka Kitchen datasets in Minari's format (e.g. ``D4RL/kitchen/mixed-v2``), read through Minari's
own API and rendered to pixel episodes.

``moto import minari-kitchen DATASET`` takes a dataset id that Minari has locally (``minari list local``;
fetch one with ``minari download D4RL/kitchen/mixed-v2``; ``MINARI_DATASETS_PATH`` moves the root) or
the path of a dataset folder. ``minari.load_dataset`` / ``minari.MinariDataset`` read it, so any
storage format Minari writes (HDF5, Arrow) works. Each episode needs ``observations["observation"]``
(T+1, 59) (FrankaKitchen-v1: robot qpos 9, robot qvel 9, object qpos 21, object qvel 20) and actions
(T, 9); ``infos["qpos"]`` / ``infos["qvel"]`` (T+1 rows), when recorded, are exact simulator states and
are preferred over the (slightly noisy) observation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from moto_rl.common.errors import UserError
from moto_rl.storage.datasets.importing import ImportReport, check_task, expect_shape, run_import, source_key
from moto_rl.storage.datasets.kitchen_replay import NA, NQ, NV, KitchenReplayer, KitchenStateSource, states_from_obs59

EXPECTED = (
    "a Minari kitchen observation is FrankaKitchen-v1's 59-dim 'observation' "
    "(robot qpos 9, qvel 9, object qpos 21, qvel 20)"
)


def _data_dir(path: Path) -> Path | None:
    """The ``data`` folder (holding metadata.json) of a Minari dataset folder, if ``path`` is one."""
    for candidate in (path / "data", path):
        if (candidate / "metadata.json").is_file():
            return candidate
    return None


def load_minari(dataset: str | Path) -> tuple[Any, str]:
    """(``MinariDataset``, a name for episode keys) for a local dataset id or a dataset folder."""
    import minari

    path = Path(dataset).expanduser()
    if path.exists():
        data = _data_dir(path)
        if data is None:
            raise UserError(
                f"{path} is not a Minari dataset folder (no data/metadata.json in it); give the dataset's "
                "folder, e.g. ~/.minari/datasets/D4RL/kitchen/mixed-v2, or its id, e.g. D4RL/kitchen/mixed-v2"
            )
        name = (data.parent if data.name == "data" else data).name
        try:
            return minari.MinariDataset(data), name
        except Exception as e:  # a damaged folder: Minari's own message says what is wrong
            raise UserError(f"Minari cannot open {path}: {e}") from None
    try:
        return minari.load_dataset(str(dataset)), str(dataset).rstrip("/").split("/")[-1]
    except FileNotFoundError:
        local = ", ".join(sorted(minari.list_local_datasets())) or "none"
        raise UserError(
            f"no local Minari dataset '{dataset}' (and no such folder). Fetch it with "
            f"`minari download {dataset}` (Minari keeps it under MINARI_DATASETS_PATH, default "
            f"~/.minari/datasets). Local datasets: {local}"
        ) from None
    except Exception as e:  # e.g. a malformed id
        raise UserError(f"Minari cannot load '{dataset}': {e}") from None


class MinariKitchenSource(KitchenStateSource):
    def __init__(self, dataset: Any, name: str, task_id: str):
        self.dataset = dataset
        self.name = name
        self.task_id = task_id
        self.indices = [int(i) for i in dataset.episode_indices]
        self._replayer: KitchenReplayer | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def key(self, index: int) -> str:
        return source_key(self.name, str(self.indices[index]))

    def _arrays(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        where = f"{self.name} episode {self.indices[index]}"
        try:
            (ep,) = self.dataset.iterate_episodes([self.indices[index]])
        except Exception as e:  # damaged storage
            raise UserError(
                f"cannot read {where} ({e}); the dataset is damaged or incomplete: fetch it again"
            ) from None
        obs = ep.observations
        if not isinstance(obs, dict) or "observation" not in obs:
            raise UserError(f"{where}: no observations['observation']; {EXPECTED}")
        obs = np.asarray(obs["observation"])
        expect_shape(obs.shape, (None, 59), f"{where} observations['observation']", EXPECTED)
        actions = np.asarray(ep.actions)
        expect_shape(actions.shape, (obs.shape[0] - 1, NA), f"{where} actions", "T 9-dim actions for T+1 observations")
        infos = ep.infos or {}
        if "qpos" in infos and "qvel" in infos:
            qpos, qvel = np.asarray(infos["qpos"], np.float64), np.asarray(infos["qvel"], np.float64)
            expect_shape(qpos.shape, (obs.shape[0], NQ), f"{where} infos['qpos']", "one kitchen qpos per observation")
            expect_shape(qvel.shape, (obs.shape[0], NV), f"{where} infos['qvel']", "one kitchen qvel per observation")
        else:
            qpos, qvel = states_from_obs59(obs.astype(np.float64))
        return qpos, qvel, actions.astype(np.float32), where


def import_minari_kitchen(dataset: str | Path, task_id: str, store_url: str, progress: bool = True) -> ImportReport:
    """Render a local Minari kitchen dataset (id or folder) into ``store_url`` for ``task_id``."""
    check_task(task_id, "kitchen")
    data, name = load_minari(dataset)
    source = MinariKitchenSource(data, name, task_id)
    try:
        return run_import(source, store_url, progress)
    finally:
        source.close()
