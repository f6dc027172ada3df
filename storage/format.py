"""The on-disk format of a trajectory store (docs/storage.md): layout, codecs, ids, commit markers.

    <root>/zarr.json                    Zarr v3 group; attributes {"moto_store": {"format_version": N}}
    <root>/episodes/<id>/<array>        one Zarr group per episode, one chunk per array (T+1 <= 512)
    <root>/commits/<id>.json            commit marker, written last and atomically: meta, length, crc32s

An episode exists only once its marker exists; everything under episodes/ without one is a leftover.

Format 2 stores only what is read: format 1 also wrote ``is_first`` and ``is_last`` (derivable from the
length, and rebuilt by the sampler) and called the per-step flag ``success``. Each marker records the
format its episode was written in, so a store may hold both; format-1 episodes read as before.
"""

from __future__ import annotations

import json
import secrets
import time
import zlib
from dataclasses import fields
from typing import Any

import numpy as np
from zarr.codecs import Crc32cCodec, ZstdCodec

from moto_rl.common.episode import Episode, EpisodeMeta
from moto_rl.storage.errors import CorruptEpisode, StoreError

FORMAT_VERSION = 2
ATTR_KEY = "moto_store"
EPISODES = "episodes"
COMMITS = "commits"
TMP_PREFIX = ".tmp-"  # marker being written (local FS); never read as a commit
SOURCES = ("offline", "online", "eval")
MAX_CHUNK_ROWS = 512  # MetaWorld (101 rows) and Kitchen (281) episodes fit in one chunk per array
ZSTD_LEVEL = 3  # docs/storage.md: zstd-3 beats blosc-zstd-3 on frames, reads as fast

# The arrays of an episode, in read order, by the format version its marker records.
ARRAYS = ("image", "action", "reward", "is_terminal", "step_success")
ARRAYS_BY_VERSION = {1: ("image", "action", "reward", "is_first", "is_last", "is_terminal", "success"), 2: ARRAYS}
# Format 1 name -> Episode field, for the arrays an Episode still has (is_first/is_last are not read).
V1_NAMES = {
    "image": "image",
    "action": "action",
    "reward": "reward",
    "is_terminal": "is_terminal",
    "success": "step_success",
}


def compressors() -> list:
    """zstd, then crc32c over the compressed chunk so a flipped byte fails loudly on read."""
    return [ZstdCodec(level=ZSTD_LEVEL), Crc32cCodec()]


def chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (min(shape[0], MAX_CHUNK_ROWS), *shape[1:])


def new_episode_id() -> str:
    """Creation time in ns (sorts by time; 19 digits until 2286) + 48 random bits (unique across writers)."""
    return f"{time.time_ns():019d}-{secrets.token_hex(6)}"


def id_time(episode_id: str) -> float | None:
    """Unix time an id was created, or None for a name that is not an episode id."""
    head = episode_id.split("-", 1)[0]
    return int(head) / 1e9 if head.isdigit() and len(head) == 19 else None


def episode_arrays(episode: Episode) -> dict[str, np.ndarray]:
    """Validate an episode and return the arrays to store; raises StoreError before anything is written."""
    try:
        episode.validate()
    except ValueError as e:
        raise StoreError(f"refusing to store an invalid episode: {e}") from e
    meta = episode.meta
    if meta.source not in SOURCES:
        raise StoreError(f"episode meta.source must be one of {SOURCES}, got {meta.source!r}")
    arrays = {
        "image": np.ascontiguousarray(episode.image, dtype=np.uint8),
        "action": np.ascontiguousarray(episode.action, dtype=np.float32),
        "reward": np.ascontiguousarray(episode.reward, dtype=np.float32),
        "is_terminal": np.ascontiguousarray(episode.is_terminal, dtype=bool),
        "step_success": np.ascontiguousarray(episode.step_success, dtype=bool),
    }
    for name in ("action", "reward"):
        if not np.isfinite(arrays[name]).all():
            raise StoreError(f"refusing to store an episode with non-finite {name} values (NaN/inf)")
    return arrays


def checksum(array: np.ndarray) -> int:
    """crc32 of the decoded array: catches chunks Zarr silently reads as fill value (missing files)."""
    return zlib.crc32(np.ascontiguousarray(array).data)


def make_marker(episode_id: str, episode: Episode, arrays: dict[str, np.ndarray]) -> bytes:
    meta = episode.meta.to_dict()
    meta["completion"] = {str(k): bool(v) for k, v in meta["completion"].items()}
    marker = {
        "format_version": FORMAT_VERSION,
        "id": episode_id,
        "length": episode.length,
        "return": episode.episode_return,
        "committed": time.time(),
        "meta": meta,
        "arrays": {
            name: {"shape": list(a.shape), "dtype": str(a.dtype), "crc32": checksum(a)} for name, a in arrays.items()
        },
    }
    return json.dumps(marker, allow_nan=False).encode()


def parse_marker(episode_id: str, raw: bytes) -> dict[str, Any]:
    try:
        marker = json.loads(raw)
        version = marker.get("format_version")
        if version not in ARRAYS_BY_VERSION:
            raise ValueError(f"format version {version!r}, this moto reads {sorted(ARRAYS_BY_VERSION)}; upgrade moto")
        if marker["id"] != episode_id or set(marker["arrays"]) != set(ARRAYS_BY_VERSION[version]):
            raise ValueError("id or array list does not match")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CorruptEpisode(episode_id, f"unreadable commit marker ({e})") from e
    return marker


def stored_arrays(marker: dict[str, Any]) -> dict[str, str]:
    """Stored array name -> Episode field, for the arrays a reader needs of this marker's episode."""
    if marker["format_version"] == 1:
        return V1_NAMES
    return {name: name for name in ARRAYS}


def meta_from_marker(marker: dict[str, Any]) -> EpisodeMeta:
    known = {f.name for f in fields(EpisodeMeta)}  # newer writers may add fields: ignore them
    return EpisodeMeta(**{k: v for k, v in marker["meta"].items() if k in known})
