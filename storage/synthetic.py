"""Synthetic MetaWorld-like episodes for tests and the benchmark.

Frames look like a rendered tabletop scene, not random noise: a shaded wall and table, a coloured
object that slides when "pushed", a gripper blob moving smoothly, and a fine static texture.
Consecutive frames are mostly identical, as real renders are, so they compress like them (more, in
fact: the benchmark prefers real MetaWorld renders for its compression figure when the env is available).
"""

from __future__ import annotations

import numpy as np

from moto_rl.common.episode import Episode, EpisodeMeta


def frames(steps: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """(steps+1, size, size, 3) uint8."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, steps + 1)[:, None, None]  # (T+1, 1, 1)
    y, x = np.mgrid[0:size, 0:size] / size  # (H, W)
    horizon = 0.35 + 0.05 * rng.standard_normal()
    wall = np.stack([0.55 + 0.2 * y, 0.6 + 0.1 * y, 0.7 + 0.05 * x], -1)
    table = np.stack([0.45 + 0.1 * x, 0.32 + 0.05 * x, 0.2 + 0.02 * y], -1) * (0.9 + 0.1 * np.sin(40 * x))[..., None]
    scene = np.where((y < horizon)[..., None], wall, table)[None].repeat(steps + 1, 0)  # (T+1, H, W, 3)

    phase = rng.uniform(0, 2 * np.pi, size=2)
    gx = 0.5 + 0.3 * np.sin(2 * np.pi * t + phase[0])  # gripper path
    gy = 0.55 + 0.2 * np.cos(2 * np.pi * t + phase[1])
    ox = 0.3 + 0.4 * np.clip(t - 0.4, 0, None)  # object slides in the second half
    oy = np.full_like(t, 0.6 + 0.1 * rng.uniform())
    colour = rng.uniform(0.2, 1.0, size=3)

    obj = (np.abs(x - ox) < 0.08) & (np.abs(y - oy) < 0.06)  # (T+1, H, W)
    scene[obj] = colour * (0.8 + 0.2 * y[None].repeat(steps + 1, 0)[obj])[:, None]
    grip = ((x - gx) ** 2 + (y - gy) ** 2) < 0.006
    scene[grip] = (0.85, 0.85, 0.9)
    scene += rng.normal(0.0, 0.01, size=(size, size, 3))  # static texture/aliasing noise, as a renderer gives
    return (np.clip(scene, 0, 1) * 255).astype(np.uint8)


def episode(
    steps: int = 100,
    size: int = 64,
    seed: int = 0,
    source: str = "online",
    success: bool = False,
    action_dim: int = 4,
    tag: float | None = None,
    image: np.ndarray | None = None,
) -> Episode:
    """A valid episode; ``tag`` (default: seed) fills action[:, 0] so tests can tell episodes apart,
    action[:, 1] holds the row index, and reward[t] = tag + t / 1000."""
    rows = steps + 1
    tag = float(seed if tag is None else tag)
    action = np.zeros((rows, action_dim), np.float32)
    action[1:, 0] = tag
    action[1:, 1] = np.arange(1, rows)
    reward = (tag + np.arange(rows) / 1000).astype(np.float32)
    reward[0] = 0.0
    flags = np.zeros(rows, bool)
    step_success = flags.copy()
    if success:
        step_success[rows // 2 :] = True
    return Episode(
        image=frames(steps, size, seed) if image is None else image,
        action=action,
        reward=reward,
        is_terminal=flags,
        step_success=step_success,
        meta=EpisodeMeta(task="metaworld/drawer-open", source=source, seed=seed, success=success, worker="synthetic"),
    )
