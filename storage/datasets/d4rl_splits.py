"""Episode boundaries of a D4RL-format file: flat arrays of N transitions, ends flagged per row."""

from __future__ import annotations

from typing import Any

import numpy as np

from moto_rl.storage.datasets.importing import read


def episode_bounds(f: Any, where: str) -> list[tuple[int, int]]:
    """``[start, end)`` row ranges, split after each row whose ``terminals`` or ``timeouts`` is set.

    Only these two flag arrays (N bools) are read whole; a last episode without a flag ends at N.
    Single-row segments are dropped: they hold a state but no step.
    """
    n = f["observations"].shape[0]
    ends = np.zeros(n, bool)
    for name in ("terminals", "timeouts"):
        if name in f:
            ends |= read(f[name], f"{where}['{name}']").astype(bool).reshape(-1)[:n]
    stops = list(np.flatnonzero(ends) + 1)
    if not stops or stops[-1] != n:
        stops.append(n)
    bounds, start = [], 0
    for stop in stops:
        if stop - start >= 2:
            bounds.append((start, int(stop)))
        start = int(stop)
    return bounds
