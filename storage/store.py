"""``TrajectoryStore``: whole episodes in a Zarr v3 group, appended concurrently by many writers.

No coordinator: each append writes its own episode group under a fresh unique id, then commits it
by writing one small marker file last (atomic rename on a local FS, a single PUT on object stores).
Readers only ever look at committed ids, so a writer killed halfway leaves nothing visible.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import fsspec
import numpy as np
import zarr
import zarr.storage
from fsspec.implementations.local import LocalFileSystem
from zarr.errors import ContainsGroupError

from moto_rl.common.episode import Episode, EpisodeMeta
from moto_rl.storage import format as fmt
from moto_rl.storage.errors import CorruptEpisode, StoreError

log = logging.getLogger(__name__)

_CREATE_HINT = "create one with TrajectoryStore.open(url, create=True) or `moto collect-demos TASK --store URL`"


class TrajectoryStore:
    def __init__(self, url: str, fs: fsspec.AbstractFileSystem, root: str, group: zarr.Group):
        """Use ``TrajectoryStore.open``."""
        self.url = url
        self._fs = fs
        self._root = root.rstrip("/")
        self._group = group
        self._markers: dict[str, dict[str, Any]] = {}  # committed markers are immutable: cache them

    # ---- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str | os.PathLike, create: bool = False) -> TrajectoryStore:
        """Open the store at ``url`` (local path or fsspec URL); ``create`` makes an empty one if missing."""
        url = str(url)
        if "://" not in url:
            url = os.path.abspath(os.path.expanduser(url))
        fs, root = fsspec.core.url_to_fs(url)
        root = root.rstrip("/")
        state = _probe(fs, root)
        if state != "store":
            if state == "headless":
                raise StoreError(
                    f"{url} holds committed episodes but its header zarr.json is missing (damaged store); nothing was "
                    f"changed. Restore zarr.json from a backup or a copy of another store of the same format version"
                )
            if state == "foreign":
                raise StoreError(
                    f"{url} exists but is not a moto trajectory store (no zarr.json); {_CREATE_HINT} at another path"
                )
            if not create:
                raise StoreError(f"no store at {url}; {_CREATE_HINT}")
            _create(url, fs, root)
        group = _open_group(url, fs, root)
        return cls(url, fs, root, group)

    # ---- writing -------------------------------------------------------------------------------
    def append(self, episode: Episode) -> str:
        """Store one whole episode and commit it atomically; returns its id."""
        arrays = fmt.episode_arrays(episode)  # raises before anything is written
        self._upgrade_header()
        episode_id = fmt.new_episode_id()
        group = self._group.create_group(f"{fmt.EPISODES}/{episode_id}")
        for name, array in arrays.items():
            # write_empty_chunks: an all-zero (black) chunk is still written, so a missing file means damage.
            group.create_array(
                name,
                data=array,
                chunks=fmt.chunks(array.shape),
                compressors=fmt.compressors(),
                config={"write_empty_chunks": True},
            )
        marker = fmt.make_marker(episode_id, episode, arrays)
        self._commit(episode_id, marker)
        return episode_id

    def _upgrade_header(self) -> None:
        """Before the first episode in the current format joins an older store, say so in its header, so an
        older moto refuses the store by its version ("upgrade moto") instead of calling the new episodes
        corrupt. Episodes already there keep their format (each marker records its own)."""
        if self._group.attrs[fmt.ATTR_KEY]["format_version"] < fmt.FORMAT_VERSION:
            self._group.update_attributes({fmt.ATTR_KEY: {"format_version": fmt.FORMAT_VERSION}})

    def _commit(self, episode_id: str, marker: bytes) -> None:
        path = self._marker_path(episode_id)
        if isinstance(self._fs, LocalFileSystem):
            tmp = f"{self._root}/{fmt.COMMITS}/{fmt.TMP_PREFIX}{episode_id}"
            with open(tmp, "wb") as f:
                f.write(marker)
            os.replace(tmp, path)  # atomic: readers see no marker or the whole marker
        else:
            self._fs.pipe_file(path, marker)  # one PUT: object stores make it visible whole

    # ---- reading -------------------------------------------------------------------------------
    def episode_ids(self, since: str | None = None) -> list[str]:
        """Committed ids in id (= creation time) order; with ``since``, only ids after it."""
        commits = f"{self._root}/{fmt.COMMITS}"
        self._fs.invalidate_cache(commits)  # s3fs/gcsfs cache listings
        try:
            names = self._fs.ls(commits, detail=False)
        except FileNotFoundError:
            return []
        ids = sorted(
            base[: -len(".json")]
            for base in (n.rstrip("/").rsplit("/", 1)[-1] for n in names)
            if base.endswith(".json") and not base.startswith(".")
        )
        return [i for i in ids if since is None or i > since]

    def __len__(self) -> int:
        return len(self.episode_ids())

    def marker(self, episode_id: str) -> dict[str, Any]:
        """The commit record of an episode: meta, length, return, per-array shape and crc32."""
        if episode_id not in self._markers:
            try:
                raw = self._fs.cat_file(self._marker_path(episode_id))
            except FileNotFoundError:
                raise StoreError(f"no committed episode {episode_id} in {self.url}") from None
            self._markers[episode_id] = fmt.parse_marker(episode_id, raw)
        return self._markers[episode_id]

    def meta(self, episode_id: str) -> EpisodeMeta:
        return fmt.meta_from_marker(self.marker(episode_id))

    def read(self, episode_id: str) -> Episode:
        """Load one committed episode; raises CorruptEpisode (naming it) if any check fails."""
        marker = self.marker(episode_id)
        names = fmt.stored_arrays(marker)  # stored name -> Episode field (format 1 episodes differ)
        arrays: dict[str, np.ndarray] = {}
        try:
            group = zarr.open_group(self._group.store, path=f"{fmt.EPISODES}/{episode_id}", mode="r")
            for name in names:
                arrays[name] = group[name][...]
        except Exception as e:  # crc32c mismatch, undecodable chunk, missing metadata: all mean damage
            raise CorruptEpisode(episode_id, f"cannot read its data ({type(e).__name__}: {e})") from e
        for name, array in arrays.items():
            want = marker["arrays"][name]
            if list(array.shape) != want["shape"] or str(array.dtype) != want["dtype"]:
                raise CorruptEpisode(
                    episode_id, f"{name} is {array.shape} {array.dtype}, committed as {want['shape']} {want['dtype']}"
                )
            if fmt.checksum(array) != want["crc32"]:
                raise CorruptEpisode(
                    episode_id, f"{name} does not match its committed checksum (missing or altered chunk)"
                )
        return Episode(**{field: arrays[name] for name, field in names.items()}, meta=fmt.meta_from_marker(marker))

    # ---- inspection and repair ---------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """episodes, frames (rows, T+1 per episode), steps, success_rate, by_source, bytes on disk."""
        markers = [self.marker(i) for i in self.episode_ids()]
        by_source: dict[str, int] = {}
        for m in markers:
            by_source[m["meta"]["source"]] = by_source.get(m["meta"]["source"], 0) + 1
        n = len(markers)
        return {
            "episodes": n,
            "frames": sum(m["length"] + 1 for m in markers),
            "steps": sum(m["length"] for m in markers),
            "success_rate": sum(bool(m["meta"]["success"]) for m in markers) / n if n else 0.0,
            "by_source": by_source,
            "bytes": int(self._fs.du(self._root, total=True)),
        }

    def verify(self) -> list[str]:
        """Read every committed episode in full; one line per problem, each naming the episode."""
        problems = []
        for episode_id in self.episode_ids():
            try:
                self.read(episode_id)
            except CorruptEpisode as e:
                problems.append(str(e))
            except StoreError as e:
                problems.append(f"episode {episode_id}: {e}")
        return problems

    def fsck(self, older_than: float, dry_run: bool = False) -> list[str]:
        """Remove what killed writers left: uncommitted episode data and marker temp files older than
        ``older_than`` seconds (by the creation time in the id). Committed data is never touched."""
        committed = set(self.episode_ids())
        candidates = []  # (label, path, episode id)
        for folder in (fmt.EPISODES, fmt.COMMITS):
            path = f"{self._root}/{folder}"
            self._fs.invalidate_cache(path)
            try:
                names = self._fs.ls(path, detail=False)
            except FileNotFoundError:
                continue
            for full in names:
                base = full.rstrip("/").rsplit("/", 1)[-1]
                if folder == fmt.EPISODES and base not in committed:
                    candidates.append((f"{folder}/{base}", full, base))
                elif folder == fmt.COMMITS and base.startswith(fmt.TMP_PREFIX):
                    candidates.append((f"{folder}/{base}", full, base[len(fmt.TMP_PREFIX) :]))
        now = time.time()
        found = []
        for label, full, episode_id in candidates:
            created = fmt.id_time(episode_id)
            if created is None or now - created < older_than:
                continue  # not an episode id (zarr.json, foreign files) or possibly still being written
            found.append(f"{'would remove' if dry_run else 'removed'} {label} (uncommitted, {now - created:.0f} s old)")
            if not dry_run:
                self._fs.rm(full, recursive=True)
        return found

    def _marker_path(self, episode_id: str) -> str:
        return f"{self._root}/{fmt.COMMITS}/{episode_id}.json"

    def __repr__(self) -> str:
        return f"TrajectoryStore({self.url!r})"


def _zarr_store(url: str, fs: fsspec.AbstractFileSystem, root: str) -> zarr.abc.store.Store:
    if isinstance(fs, LocalFileSystem):
        return zarr.storage.LocalStore(root)
    return zarr.storage.FsspecStore.from_url(url)


def _creation_entry(name: str) -> bool:
    """What a creator writes before the header lands: zarr's temporary ``zarr.json.<uuid>.partial``
    (local FS writes go to a temporary file, then a rename), the episodes group, the commits folder."""
    return name in (fmt.EPISODES, fmt.COMMITS) or (name.startswith("zarr.") and name.endswith(".partial"))


def _probe(fs: fsspec.AbstractFileSystem, root: str, patience_s: float = 2.0) -> str:
    """'store' (zarr.json present), 'absent' (nothing or an empty folder), 'foreign' (other files), or
    'headless' (committed episodes but no zarr.json: a damaged store).

    A folder holding only creation entries is a concurrent creator half-way: wait up to
    ``patience_s`` for its header rather than calling the folder foreign."""
    deadline = time.monotonic() + patience_s
    while True:
        if fs.exists(f"{root}/zarr.json"):
            return "store"
        if fs.isfile(root):
            return "foreign"
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)] if fs.isdir(root) else []
        if not names:
            return "absent"
        if "zarr.json" not in names:  # (it may have landed since the exists() above: look again)
            if not all(_creation_entry(n) for n in names):
                return "foreign"
            if time.monotonic() > deadline:
                # no creator is coming: a creator that died before any episode (creating is idempotent,
                # so finishing its work is safe), or a store whose header was lost (never overwrite that)
                return "headless" if fs.exists(f"{root}/{fmt.COMMITS}") and fs.ls(f"{root}/{fmt.COMMITS}") else "absent"
        time.sleep(0.02)


def _create(url: str, fs: fsspec.AbstractFileSystem, root: str) -> None:
    """Idempotent, so concurrent creators write identical bytes."""
    store = _zarr_store(url, fs, root)
    for attempt in range(5):
        try:
            group = zarr.open_group(store, mode="a", attributes={fmt.ATTR_KEY: {"format_version": fmt.FORMAT_VERSION}})
            group.require_group(fmt.EPISODES)
            break
        except (
            ContainsGroupError,
            FileExistsError,
        ):  # another writer created it between our check and our write: open theirs
            if attempt == 4:
                raise
            time.sleep(0.01 * (attempt + 1))
    fs.makedirs(f"{root}/{fmt.COMMITS}", exist_ok=True)  # a no-op on object stores


def _open_group(url: str, fs: fsspec.AbstractFileSystem, root: str) -> zarr.Group:
    try:
        header = json.loads(fs.cat_file(f"{root}/zarr.json"))
    except (ValueError, OSError) as e:
        raise StoreError(f"{url} is not a moto trajectory store (unreadable zarr.json: {e})") from e
    info = header.get("attributes", {}).get(fmt.ATTR_KEY) if header.get("node_type") == "group" else None
    if not isinstance(info, dict) or "format_version" not in info:
        raise StoreError(
            f"{url} is a Zarr {header.get('node_type', 'node')} but not a moto trajectory store "
            f"(no '{fmt.ATTR_KEY}' attribute)"
        )
    version = info["format_version"]
    if not isinstance(version, int) or version > fmt.FORMAT_VERSION:
        raise StoreError(
            f"store {url} has format version {version}, newer than this moto understands "
            f"({fmt.FORMAT_VERSION}); upgrade moto"
        )
    return zarr.open_group(_zarr_store(url, fs, root), mode="r+")
