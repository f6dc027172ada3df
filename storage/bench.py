"""``moto bench storage``: sampler vs a plain numpy gather, commit-to-visible latency, compression, writes.

All figures come from one run on one machine, side by side (docs/performance.md).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time

import numpy as np
import torch

from moto_rl.storage import synthetic
from moto_rl.storage.sampler import Sampler
from moto_rl.storage.store import TrajectoryStore

log = logging.getLogger(__name__)

EPISODES, STEPS, SIZE = 100, 100, 64
BATCH, SEQ = 16, 50


def run(args: argparse.Namespace) -> dict:
    quick = bool(getattr(args, "quick", False))
    n_batches = 200 if quick else 1000
    with tempfile.TemporaryDirectory(prefix="moto-bench-storage-") as tmp:
        episodes = [synthetic.episode(steps=STEPS, size=SIZE, seed=i, success=i % 3 == 0) for i in range(EPISODES)]
        store = TrajectoryStore.open(f"{tmp}/store", create=True)
        started = time.perf_counter()
        for episode in episodes:
            store.append(episode)
        write_s = time.perf_counter() - started
        raw = sum(_raw_bytes(e) for e in episodes)
        synthetic_ratio = raw / store.stats()["bytes"]
        real_ratio, real_source = _rendered_compression(f"{tmp}/rendered", quick)

        numpy_batch = _numpy_gather(episodes)
        sampler = Sampler(store, BATCH, SEQ, prefetch=2, refresh_seconds=0.5)
        # Interleaved rounds, median of each: this machine's load drifts more than the gap measured.
        numpy_rates, store_rates = [], []
        for _ in range(5):
            numpy_rates.append(_rate(numpy_batch, n_batches // 5))
            store_rates.append(_rate(sampler.sample, n_batches // 5))
        numpy_rate, store_rate = statistics.median(numpy_rates), statistics.median(store_rates)

        latencies = []
        for i in range(3 if quick else 6):
            before = sampler.num_episodes
            store.append(synthetic.episode(steps=STEPS, size=SIZE, seed=1000 + i))
            committed = time.perf_counter()
            while sampler.num_episodes == before and time.perf_counter() - committed < 10:
                time.sleep(0.005)
            latencies.append(time.perf_counter() - committed)
        sampler.close()

    return {
        "store_batches_per_s": round(store_rate, 1),
        "numpy_batches_per_s": round(numpy_rate, 1),
        "ratio": round(store_rate / numpy_rate, 3),
        "episode_visible_latency_s": round(max(latencies), 3),  # worst of the repeats
        "episode_visible_latency_median_s": round(statistics.median(latencies), 3),
        "compression_ratio": round(real_ratio if real_ratio else synthetic_ratio, 1),
        "compression_source": real_source if real_ratio else "synthetic",
        "compression_ratio_synthetic": round(synthetic_ratio, 1),
        "write_episodes_per_s": round(EPISODES / write_s, 1),
        "episodes": EPISODES,
        "steps_per_episode": STEPS,
        "batch": f"{BATCH}x{SEQ}",
    }


def _raw_bytes(episode) -> int:
    arrays = (episode.image, episode.action, episode.reward, episode.is_terminal, episode.step_success)
    return sum(a.nbytes for a in arrays)


def _rate(make_batch, n: int) -> float:
    for _ in range(10):  # warm-up
        make_batch()
    started = time.perf_counter()
    for _ in range(n):
        make_batch()
    return n / (time.perf_counter() - started)


def _numpy_gather(episodes: list):
    """The reference: all episodes concatenated in RAM, windows gathered by fancy indexing."""
    image = np.concatenate([e.image for e in episodes])  # (N, H, W, 3)
    action = np.concatenate([e.action for e in episodes])
    reward = np.concatenate([e.reward for e in episodes])
    terminal = np.concatenate([e.is_terminal for e in episodes])
    first = np.concatenate([e.is_first for e in episodes])
    success = np.concatenate([np.full(len(e.reward), e.meta.success, np.float32) for e in episodes])
    offsets = np.cumsum([0] + [len(e.reward) for e in episodes])
    starts = np.concatenate(
        [np.arange(o, o + len(e.reward) - SEQ + 1) for o, e in zip(offsets[:-1], episodes, strict=True)]
    )
    rng = np.random.default_rng(0)
    span = np.arange(SEQ)

    def batch() -> tuple:
        idx = starts[rng.integers(0, len(starts), BATCH)][:, None] + span  # (B, T)
        return tuple(torch.from_numpy(a[idx]) for a in (image, action, reward, first, terminal, success))

    return batch


def _rendered_compression(url: str, quick: bool) -> tuple[float | None, str]:
    """Compression on real MetaWorld renders when the env package is available (random actions)."""
    try:
        from moto_rl.common.config import EnvConfig
        from moto_rl.common.envs import make_env
        from moto_rl.common.episode import EpisodeBuilder, EpisodeMeta

        cfg = EnvConfig()
        env = make_env(cfg, seed=0)
        store = TrajectoryStore.open(url, create=True)
        raw = 0
        for i in range(1 if quick else 2):
            builder = EpisodeBuilder(env.action_space.shape[0])
            obs, info = env.reset(seed=i)
            builder.reset(obs, info)
            for _ in range(cfg.max_episode_steps):
                action = env.action_space.sample()
                obs, reward, terminated, truncated, info = env.step(action)
                builder.step(action, obs, reward, terminated, info)
                if terminated or truncated:
                    break
            episode = builder.build(EpisodeMeta(task=cfg.task, source="eval"))
            raw += _raw_bytes(episode)
            store.append(episode)
        env.close()
        return raw / store.stats()["bytes"], f"rendered {cfg.task}"
    except Exception as e:  # the env stack is optional here: fall back to synthetic frames
        log.warning("rendered compression skipped (%s: %s); reporting synthetic frames", type(e).__name__, e)
        return None, "synthetic"
