"""``EpisodeArrays``: episodes held in RAM as large contiguous, growable numpy arrays.

Every episode's rows sit back to back in one array per field, and ``starts`` lists every row where a
window of ``seq_len`` rows begins without crossing into the next episode. A batch is then one random
pick of starts and one fancy-index gather per field: as fast as plain numpy.

Memory: a 64x64x3 frame is 12,288 bytes, so 1M frames cost about 12.3 GB (plus ~30 bytes a row for
action, reward and flags). Capacity grows by doubling, so a growing store may briefly hold 2x.
Not thread-safe: ``Sampler`` guards it with a lock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.episode import Episode, EpisodeMeta

# name -> dtype of the per-row arrays; image and action get their row shape from the first episode.
FIELDS = {
    "image": np.uint8,  # (N, H, W, 3)
    "action": np.float32,  # (N, A)
    "reward": np.float32,  # (N,)
    "is_first": np.bool_,  # (N,)
    "is_terminal": np.bool_,  # (N,)
    "step_success": np.bool_,  # (N,) the env's per-step flag (kept so episodes() can rebuild Episodes)
    "success": np.float32,  # (N,) 1.0 on every row of an episode whose meta.success is true (BC filter)
}


@dataclass
class Slot:
    episode_id: str
    start: int  # first row in the arrays
    rows: int  # T + 1
    meta: EpisodeMeta


class EpisodeArrays:
    def __init__(self, seq_len: int):
        self.seq_len = seq_len
        self.arrays: dict[str, np.ndarray] = {}
        self.slots: list[Slot] = []  # in load order (= commit order as the sampler saw it)
        self.size = 0  # rows in use
        self.starts = np.zeros(0, np.int64)  # (W,) valid window starts

    @property
    def row_shapes(self) -> dict[str, tuple[int, ...]] | None:
        return {k: a.shape[1:] for k, a in self.arrays.items()} if self.arrays else None

    def compatible(self, episode: Episode) -> str | None:
        """Why ``episode`` cannot join these arrays (other image size / action dim), or None."""
        if not self.arrays:
            return None
        for name, array in (("image", episode.image), ("action", episode.action)):
            if array.shape[1:] != self.arrays[name].shape[1:]:
                return f"{name} rows are {array.shape[1:]}, the sampler holds {self.arrays[name].shape[1:]}"
        return None

    def add(self, episode_id: str, episode: Episode) -> None:
        rows = episode.length + 1
        self._reserve(self.size + rows, episode)
        s = slice(self.size, self.size + rows)
        a = self.arrays
        a["image"][s] = episode.image
        a["action"][s] = episode.action
        a["reward"][s] = episode.reward
        a["is_first"][s] = False
        a["is_first"][self.size] = True
        a["is_terminal"][s] = episode.is_terminal
        a["step_success"][s] = episode.success
        a["success"][s] = 1.0 if episode.meta.success else 0.0
        self.slots.append(Slot(episode_id, self.size, rows, episode.meta))
        self.size += rows

    def remove(self, episode_ids: set[str]) -> None:
        """Drop episodes and compact the rest down (one pass of memmoves over the rows after the first gap)."""
        kept, write = [], 0
        for slot in self.slots:
            if slot.episode_id in episode_ids:
                continue
            if slot.start != write:
                for array in self.arrays.values():
                    array[write : write + slot.rows] = array[slot.start : slot.start + slot.rows]  # dst < src: safe
            kept.append(Slot(slot.episode_id, write, slot.rows, slot.meta))
            write += slot.rows
        self.slots, self.size = kept, write

    def reindex(self) -> None:
        """Rebuild ``starts``: rows start..start+rows-seq_len of each episode (episodes are >= seq_len rows)."""
        if not self.slots:
            self.starts = np.zeros(0, np.int64)
            return
        counts = np.array([s.rows - self.seq_len + 1 for s in self.slots], np.int64)
        firsts = np.array([s.start for s in self.slots], np.int64)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)  # 0..count-1 per episode
        self.starts = np.repeat(firsts, counts) + offsets

    def gather(self, picks: np.ndarray, out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Windows starting at ``self.starts[picks]``: {field: (B, T, ...)}; ``out`` buffers are filled if given."""
        rows = self.starts[picks][:, None] + np.arange(self.seq_len)  # (B, T)
        result = {}
        for name in ("image", "action", "reward", "is_first", "is_terminal", "success"):
            if out is None:
                result[name] = self.arrays[name][rows]
            else:
                np.take(self.arrays[name], rows, axis=0, out=out[name])
                result[name] = out[name]
        return result

    def episode(self, slot: Slot) -> Episode:
        """A copy of one held episode (later compaction cannot change it)."""
        s = slice(slot.start, slot.start + slot.rows)
        a = self.arrays
        return Episode(
            image=a["image"][s].copy(),
            action=a["action"][s].copy(),
            reward=a["reward"][s].copy(),
            is_terminal=a["is_terminal"][s].copy(),
            success=a["step_success"][s].copy(),
            meta=slot.meta,
        )

    def _reserve(self, rows: int, episode: Episode) -> None:
        if not self.arrays:
            shapes = {"image": episode.image.shape[1:], "action": episode.action.shape[1:]}
            self.arrays = {k: np.empty((max(rows, 1024), *shapes.get(k, ())), dt) for k, dt in FIELDS.items()}
            return
        capacity = len(self.arrays["image"])
        if rows <= capacity:
            return
        capacity = max(rows, 2 * capacity)
        for name, old in self.arrays.items():
            new = np.empty((capacity, *old.shape[1:]), old.dtype)
            new[: self.size] = old[: self.size]
            self.arrays[name] = new
