"""The import loop every format shares: validate all episodes, then append the missing ones.

A source is validated completely (a cheap pass that reads each episode's arrays once, never the
whole file at a time) before the store is even opened, so a bad file leaves the store unchanged.
Episodes are keyed by ``meta.worker = "import:<source>:<index>"``; keys already present are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from moto_rl.common.episode import Episode
from moto_rl.common.errors import UserError
from moto_rl.common.tasks import UnknownTaskError, task_spec


class Source(Protocol):
    """A dataset split into episodes; ``check`` raises ``UserError``, ``episode`` builds one."""

    name: str  # stable name in the source keys (a file or folder basename)

    def __len__(self) -> int: ...

    def key(self, index: int) -> str: ...

    def check(self, index: int) -> None: ...

    def episode(self, index: int) -> Episode: ...


@dataclass
class ImportReport:
    source: str
    total: int
    added: list[str] = field(default_factory=list)  # new episode ids
    skipped: int = 0  # already in the store

    def summary(self) -> str:
        return (
            f"{self.source}: {len(self.added)} episodes imported, {self.skipped} already in the store "
            f"({self.total} in the source)"
        )


def source_key(name: str, index: int | str) -> str:
    return f"import:{name}:{index}"


def run_import(source: Source, store_url: str, progress: bool = True) -> ImportReport:
    """Validate every episode of ``source``, then append those whose key is not in the store yet."""
    from tqdm import tqdm

    from moto_rl.storage import TrajectoryStore

    n = len(source)
    if n == 0:
        raise UserError(f"{source.name}: no episodes found; is it the right file?")
    for i in tqdm(range(n), desc=f"check {source.name}", unit="ep", disable=not progress, leave=False):
        source.check(i)
    store = TrajectoryStore.open(store_url, create=True)
    present = {store.meta(eid).worker for eid in store.episode_ids()}
    report = ImportReport(source.name, n)
    for i in tqdm(range(n), desc=f"import {source.name}", unit="ep", disable=not progress):
        if source.key(i) in present:
            report.skipped += 1
            continue
        episode = source.episode(i)
        episode.meta.worker = source.key(i)
        episode.validate()
        report.added.append(store.append(episode))
    return report


def check_task(task_id: str, suite: str | None = None) -> None:
    try:
        spec = task_spec(task_id)
    except UnknownTaskError as e:
        raise UserError(str(e)) from None
    if suite and spec.suite != suite:
        raise UserError(f"this importer is for {suite} tasks, got --task {task_id}; e.g. --task {suite}/mixed")


def step_success(task_id: str, reward: np.ndarray) -> np.ndarray:
    """Per-step success when a dataset has no success flags: MetaWorld's reward is sparse success
    (reward > 0); for Kitchen, reward equal to the number of target objects means all are in place."""
    spec = task_spec(task_id)
    if spec.suite == "metaworld":
        return np.asarray(reward > 0, bool)
    return np.asarray(reward >= len(spec.objects), bool)


@contextmanager
def open_hdf5(path: str | Path) -> Iterator[Any]:
    """h5py.File opened read-only; unreadable or truncated files raise a ``UserError`` naming the file."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise UserError(f"no file at {path}; give the path of an HDF5 dataset file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise UserError(
            f"{path} is not a readable HDF5 file ({e}); it may be truncated by an interrupted download: fetch it again"
        ) from None
    try:
        yield f
    finally:
        f.close()


def read(dataset: Any, where: str, sel: Any = ()) -> np.ndarray:
    """Read ``dataset[sel]``; damaged data (a truncated file) raises a ``UserError`` naming ``where``."""
    try:
        return np.asarray(dataset[sel])
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot read {where} ({e}); the file is damaged or truncated: fetch it again") from None


def require(group: Any, keys: tuple[str, ...], where: str, fix: str) -> None:
    missing = [k for k in keys if k not in group]
    if missing:
        raise UserError(
            f"{where} has no {', '.join(repr(k) for k in missing)} "
            f"(it has {', '.join(sorted(group.keys())) or 'nothing'}); {fix}"
        )


def expect_shape(array_shape: tuple, want: tuple, where: str, meaning: str) -> None:
    """``want`` may hold None for any size; raises naming the expected layout."""
    if len(array_shape) != len(want) or any(w is not None and w != s for s, w in zip(array_shape, want, strict=False)):
        shown = "(" + ", ".join("N" if w is None else str(w) for w in want) + ")"
        raise UserError(f"{where} has shape {tuple(array_shape)}, expected {shown}: {meaning}")


def save_table_files(stem: str, markdown: str, csv_text: str) -> tuple[str, str]:
    """Write ``<stem>.md`` and ``<stem>.csv`` (local path or fsspec URL); returns both paths."""
    import fsspec

    paths = (f"{stem}.md", f"{stem}.csv")
    for path, text in zip(paths, (markdown, csv_text), strict=True):
        fs, p = fsspec.core.url_to_fs(path)
        fs.makedirs(p.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(p, "w") as f:
            f.write(text)
    return paths
