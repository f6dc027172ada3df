"""Uniform sampling over every valid window: (episode, start) pairs that never cross an episode end."""

from __future__ import annotations

import numpy as np


class WindowIndex:
    """Immutable; rebuilt (O(episodes)) whenever the set of in-memory episodes changes."""

    def __init__(self, rows: list[int], seq_len: int):
        counts = np.maximum(np.asarray(rows, np.int64) - seq_len + 1, 0)  # windows per episode
        self.counts = counts
        self.ends = np.cumsum(counts)  # ends[i] = windows in episodes 0..i
        self.total = int(self.ends[-1]) if len(counts) else 0

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(episode index, start row), each (n,): every valid window equally likely."""
        k = rng.integers(0, self.total, size=n)
        episode = np.searchsorted(self.ends, k, side="right")
        start = k - (self.ends[episode] - self.counts[episode])
        return episode, start
