"""``Sampler``: the learner's in-memory view of a store, and batches of windows drawn from it.

Reading Zarr per batch is ~60x slower than numpy, so every committed episode is loaded once into RAM
(numpy) and kept; a background thread loads newly committed ones every ``refresh_seconds`` and
another prepares ``prefetch`` batches ahead. A prefetched batch drawn before the last refresh that
added episodes is dropped, so after ``refresh()`` every batch can contain the new episodes (the
learner refreshes before each chunk of updates: the G updates after an episode see that episode).
Windows of ``seq_len`` rows never cross an episode end; episodes with fewer rows than ``seq_len`` are
kept (for ``episodes()``) but never sampled.

A corrupt episode is skipped with a loud warning naming it and recorded in ``corrupt_episodes``;
it is never retried or trained on. ``moto store verify URL`` lists them all.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from moto_rl.common.batch import Batch
from moto_rl.common.episode import Episode
from moto_rl.storage.errors import CorruptEpisode, StoreError
from moto_rl.storage.store import TrajectoryStore
from moto_rl.storage.windows import WindowIndex

log = logging.getLogger(__name__)

_LOAD_THREADS = 4  # Zarr decoding releases the GIL; a few threads hide per-file latency (object stores)


@dataclass(frozen=True)
class _View:
    """What the batch thread samples from; replaced whole (never mutated) when episodes change."""

    ids: tuple[str, ...]
    episodes: tuple[Episode, ...]
    bc_filter: np.ndarray  # (episodes,) float32: meta.success, spread over every step of a batch (BC filter f)
    index: WindowIndex
    frames: int


class Sampler:
    def __init__(
        self,
        store: TrajectoryStore | Sequence[TrajectoryStore],
        batch_size: int,
        seq_len: int,
        device: str = "cpu",
        max_frames: int = 0,
        prefetch: int = 2,
        refresh_seconds: float = 0.5,
        seed: int = 0,
    ):
        """``store`` may also be a list of stores (e.g. offline demos + online); ``max_frames`` caps the rows
        held in RAM by evicting the oldest non-offline episodes; ``prefetch=0`` and ``refresh_seconds=0``
        turn the background threads off (everything then happens in ``sample``/``refresh`` calls)."""
        if batch_size < 1 or seq_len < 1:
            raise StoreError(f"batch_size and seq_len must be >= 1, got {batch_size} and {seq_len}")
        self.stores = [store] if isinstance(store, TrajectoryStore) else list(store)
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.device = torch.device(device)
        self.max_frames = max_frames
        self.corrupt_episodes: list[str] = []  # skipped: failed checksums or lengths on load
        self.rejected_episodes: list[str] = []  # skipped: image size or action dim unlike the first episode
        self._pin = self.device.type == "cuda" and torch.cuda.is_available()
        self._rng = np.random.default_rng(seed)
        self._seen: set[str] = set()  # loaded, evicted, corrupt or rejected: never read again
        self._loaded: dict[str, Episode] = {}  # id -> episode, in load order
        self._shape: tuple[tuple[int, ...], int] | None = None  # (image row shape, action dim)
        self._view = _View((), (), np.zeros(0, np.float32), WindowIndex([], seq_len), 0)
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._warned_cap = False
        self.refresh()
        self._queue: queue.Queue[tuple[_View, Batch]] = queue.Queue(maxsize=max(prefetch, 1))
        self._threads = []
        if prefetch > 0:
            self._threads.append(threading.Thread(target=self._produce, name="sampler-prefetch", daemon=True))
        if refresh_seconds > 0:
            self._threads.append(
                threading.Thread(
                    target=self._refresh_loop, args=(refresh_seconds,), name="sampler-refresh", daemon=True
                )
            )
        for thread in self._threads:
            thread.start()
        self._prefetch = prefetch

    # ---- public ------------------------------------------------------------------------------------
    @property
    def num_episodes(self) -> int:
        return len(self._view.episodes)

    @property
    def num_frames(self) -> int:
        """Rows in memory (T+1 per episode)."""
        return self._view.frames

    @property
    def num_short_episodes(self) -> int:
        """Held episodes with fewer than ``seq_len`` rows: kept for ``episodes()``, never sampled."""
        return int((self._view.index.counts == 0).sum())

    def episodes(self, source: str | None = None) -> list[Episode]:
        return [e for e in self._view.episodes if source is None or e.meta.source == source]

    def sample(self) -> Batch:
        """(B, T) windows on ``device``; raises StoreError if no episode has ``seq_len`` rows."""
        self._check_sampleable()
        if self._prefetch > 0:
            while True:
                if self._error is not None:
                    raise RuntimeError("sampler prefetch thread failed") from self._error
                try:
                    view, batch = self._queue.get(timeout=0.5)
                except queue.Empty:
                    self._check_sampleable()
                    continue
                if view is self._view:  # else drawn before episodes were added: stale, dropped
                    break
        else:
            batch = self._make_batch(self._view)
        return batch if self.device.type == "cpu" else batch.to(self.device, non_blocking=self._pin)

    def refresh(self) -> int:
        """Load episodes committed since the last refresh; returns how many were added."""
        with self._refresh_lock:
            added = []
            for store in self.stores:
                new = [i for i in store.episode_ids() if i not in self._seen]
                self._seen.update(new)
                if not new:
                    continue
                with ThreadPoolExecutor(min(_LOAD_THREADS, len(new))) as pool:
                    for episode_id, episode in zip(new, pool.map(lambda i, s=store: _load(s, i), new), strict=True):
                        if episode is None:
                            self.corrupt_episodes.append(episode_id)
                        elif self._accept(episode_id, episode):
                            self._loaded[episode_id] = episode
                            added.append(episode_id)
            if added:
                self._evict()
                self._publish()
            return len([i for i in added if i in self._loaded])

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- loading ----------------------------------------------------------------------------------
    def _accept(self, episode_id: str, episode: Episode) -> bool:
        shape = (episode.image.shape[1:], episode.action.shape[1])
        if self._shape is None:
            self._shape = shape
        if shape != self._shape:
            log.warning(
                "skipping episode %s: image %s / action dim %d differ from the first episode's %s / %d",
                episode_id,
                shape[0],
                shape[1],
                *self._shape,
            )
            self.rejected_episodes.append(episode_id)
            return False
        return True

    def _evict(self) -> None:
        """Drop the oldest non-offline episodes until the rows fit ``max_frames``."""
        if self.max_frames <= 0:
            return
        frames = sum(len(e.reward) for e in self._loaded.values())
        for episode_id in sorted(i for i, e in self._loaded.items() if e.meta.source != "offline"):
            if frames <= self.max_frames:
                break
            frames -= len(self._loaded.pop(episode_id).reward)
        if frames > self.max_frames and not self._warned_cap:
            self._warned_cap = True
            log.warning(
                "offline episodes alone hold %d rows, over max_frames=%d; they are kept", frames, self.max_frames
            )

    def _publish(self) -> None:
        ids = tuple(sorted(self._loaded))
        episodes = tuple(self._loaded[i] for i in ids)
        rows = [len(e.reward) for e in episodes]
        self._view = _View(
            ids=ids,
            episodes=episodes,
            bc_filter=np.array([e.meta.success for e in episodes], np.float32),
            index=WindowIndex(rows, self.seq_len),
            frames=sum(rows),
        )

    def _refresh_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.refresh()
            except Exception as e:  # a flaky network FS must not kill training: retry next time
                log.warning("sampler refresh failed (will retry): %s", e)

    # ---- batches ----------------------------------------------------------------------------------
    def _check_sampleable(self) -> None:
        view = self._view
        if view.index.total == 0:
            longest = max((len(e.reward) for e in view.episodes), default=0)
            raise StoreError(
                f"no episode to sample windows of seq_len={self.seq_len} from {', '.join(s.url for s in self.stores)}: "
                f"{len(view.episodes)} episode(s) in memory, the longest has {longest} rows (T+1); "
                f"lower seq_len or add longer episodes"
            )

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                view = self._view
                if view.index.total == 0:
                    self._stop.wait(0.05)
                    continue
                batch = self._make_batch(view)
                while not self._stop.is_set():
                    try:
                        self._queue.put((view, batch), timeout=0.1)
                        break
                    except queue.Full:
                        pass
        except BaseException as e:  # surfaced by sample()
            self._error = e

    def _make_batch(self, view: _View) -> Batch:
        B, T = self.batch_size, self.seq_len
        image_shape, action_dim = self._shape  # type: ignore[misc]
        episode_idx, starts = view.index.sample(self._rng, B)  # (B,), (B,)
        picks = [(view.episodes[e], s) for e, s in zip(episode_idx.tolist(), starts.tolist(), strict=True)]
        # One np.stack per field straight into the output (a C loop, no per-row Python); numpy's
        # allocator reuses pages, torch.empty faults fresh ones in every batch (2x slower on CPU).
        fields = {
            "image": ((B, T, *image_shape), np.uint8, lambda ep, s: ep.image[s : s + T]),  # (B, T, H, W, 3)
            "action": ((B, T, action_dim), np.float32, lambda ep, s: ep.action[s : s + T]),  # (B, T, A)
            "reward": ((B, T), np.float32, lambda ep, s: ep.reward[s : s + T]),  # (B, T)
            "is_terminal": ((B, T), np.bool_, lambda ep, s: ep.is_terminal[s : s + T]),  # (B, T)
        }
        out = {}
        for name, (shape, dtype, window) in fields.items():
            out[name] = self._empty(shape, dtype)
            np.stack([window(ep, s) for ep, s in picks], out=out[name].numpy())
        out["is_first"] = torch.from_numpy(starts[:, None] + np.arange(T) == 0)  # (B, T): only a window at row 0
        out["bc_filter"] = torch.from_numpy(np.repeat(view.bc_filter[episode_idx][:, None], T, axis=1))  # (B, T)
        if self._pin:
            out["is_first"], out["bc_filter"] = out["is_first"].pin_memory(), out["bc_filter"].pin_memory()
        return Batch(**out)

    def _empty(self, shape: tuple[int, ...], dtype: type) -> torch.Tensor:
        if self._pin:  # CUDA: page-locked so the host-to-device copy is asynchronous
            return torch.empty(shape, dtype=torch.from_numpy(np.empty(0, dtype)).dtype, pin_memory=True)
        return torch.from_numpy(np.empty(shape, dtype))


def _load(store: TrajectoryStore, episode_id: str) -> Episode | None:
    try:
        return store.read(episode_id)
    except CorruptEpisode as e:
        log.warning(
            "SKIPPING CORRUPT EPISODE %s in %s (never trained on; run `moto store verify %s`): %s",
            episode_id,
            store.url,
            store.url,
            e,
        )
        return None
