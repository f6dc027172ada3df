"""Dreamer-style episode folders: one ``.npz`` per episode (the paper authors' code writes these).

Keys: ``image (T+1, 64, 64, 3) uint8``, ``action (T+1, A)`` with a zero first row, ``reward (T+1,)``,
optional ``is_first``, ``is_terminal``, ``discount`` and ``success`` (T+1,). The time alignment is
the store's own (row t: the frame, the action that led to it, the reward received on reaching it),
so rows map one to one. Without ``is_terminal``, ``discount == 0`` marks terminal rows; without
``success``, per-step success comes from the reward (``importing.step_success``).
Export writes the same keys (plus ``success`` and ``discount``) as ``<episode id>-<T>.npz``, the
name DreamerV2's loader parses the length from.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from moto_rl.common.episode import Episode, EpisodeMeta
from moto_rl.common.errors import UserError
from moto_rl.storage.datasets.importing import (
    ImportReport,
    check_task,
    expect_shape,
    run_import,
    source_key,
    step_success,
)

REQUIRED = ("image", "action", "reward")


class NpzSource:
    def __init__(self, folder: str | Path, task_id: str):
        self.dir = Path(folder)
        if not self.dir.is_dir():
            raise UserError(f"no folder at {self.dir}; give a folder of Dreamer-style episode .npz files")
        self.files = sorted(self.dir.glob("*.npz"))
        self.name = self.dir.name
        self.task_id = task_id

    def __len__(self) -> int:
        return len(self.files)

    def key(self, index: int) -> str:
        return source_key(self.name, self.files[index].name)

    def _load(self, index: int) -> dict[str, np.ndarray]:
        path = self.files[index]
        try:
            with np.load(path) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise UserError(
                f"cannot read {path} ({type(e).__name__}: {e}); the file is damaged or not an .npz"
            ) from None
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise UserError(
                f"{path} has no {', '.join(missing)} (it has {', '.join(sorted(data))}); "
                "a Dreamer episode needs image (T+1, 64, 64, 3), action (T+1, A) and reward (T+1,)"
            )
        n = data["image"].shape[0]
        expect_shape(data["image"].shape, (n, 64, 64, 3), f"{path} 'image'", "T+1 RGB 64x64 frames")
        if data["image"].dtype != np.uint8:
            raise UserError(f"{path} 'image' is {data['image'].dtype}, expected uint8 pixels 0..255")
        expect_shape(data["action"].shape, (n, None), f"{path} 'action'", "one action row per frame (row 0 zero)")
        for k in ("reward", "is_first", "is_terminal", "discount", "success"):
            if k in data:
                expect_shape(data[k].shape, (n,), f"{path} '{k}'", "one value per frame")
        if n < 2:
            raise UserError(f"{path} has {n} frame(s); an episode needs at least 2")
        return data

    def check(self, index: int) -> None:
        self._load(index)

    def episode(self, index: int) -> Episode:
        d = self._load(index)
        reward = d["reward"].astype(np.float32)
        if "is_terminal" in d:
            terminal = d["is_terminal"].astype(bool)
        elif "discount" in d:
            terminal = d["discount"] == 0
        else:
            terminal = np.zeros(reward.shape, bool)
        success = d["success"].astype(bool) if "success" in d else step_success(self.task_id, reward)
        meta = EpisodeMeta(task=self.task_id, source="offline", success=bool(success.any()))
        return Episode(
            image=d["image"],
            action=d["action"].astype(np.float32),
            reward=reward,
            is_terminal=terminal,
            step_success=success,
            meta=meta,
        )


def import_npz(folder: str | Path, task_id: str, store_url: str, progress: bool = True) -> ImportReport:
    check_task(task_id)
    return run_import(NpzSource(folder, task_id), store_url, progress)


def episode_to_npz(episode: Episode) -> dict[str, np.ndarray]:
    """The Dreamer layout of one stored episode."""
    return {
        "image": episode.image,
        "action": episode.action,
        "reward": episode.reward,
        "is_first": episode.is_first,
        "is_terminal": episode.is_terminal,
        "discount": (1.0 - episode.is_terminal).astype(np.float32),
        "success": episode.step_success,  # Dreamer's key for the per-step flag
    }


def export_npz(store_url: str, folder: str | Path, progress: bool = True) -> list[Path]:
    """Write every episode of the store as ``<folder>/<episode id>-<T>.npz``; existing files are kept."""
    from tqdm import tqdm

    from moto_rl.storage import TrajectoryStore

    store = TrajectoryStore.open(store_url)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for eid in tqdm(store.episode_ids(), desc="export npz", unit="ep", disable=not progress):
        path = out / f"{eid}-{store.marker(eid)['length']}.npz"
        if not path.exists():
            tmp = path.with_name(path.name + ".tmp.npz")
            np.savez_compressed(tmp, **episode_to_npz(store.read(eid)))
            tmp.replace(path)  # a killed export leaves no half file under the final name
        written.append(path)
    return written
