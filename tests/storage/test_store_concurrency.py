"""Many writers at once, and writers killed mid-episode: no coordinator, no partial episode, fsck cleans up."""

import multiprocessing as mp
import os
import signal
import time

import numpy as np

from moto_rl.storage import StoreError, TrajectoryStore, synthetic

WRITERS, PER_WRITER = 4, 25


def write_many(url: str, writer: int, start: mp.Event) -> None:
    store = TrajectoryStore.open(url, create=True)  # all writers race to create the store too
    start.wait()
    for i in range(PER_WRITER):
        store.append(synthetic.episode(steps=8, size=8, seed=writer * 1000 + i))


def write_then_hang_before_commit(url: str, data_written: mp.Event) -> None:
    store = TrajectoryStore.open(url, create=True)
    store.append(synthetic.episode(steps=8, size=8, seed=1))  # one committed episode before the crash

    def hang(episode_id: str, marker: bytes) -> None:
        data_written.set()
        time.sleep(600)

    store._commit = hang  # the data of episode 2 is on disk, its commit never happens
    store.append(synthetic.episode(steps=8, size=8, seed=2))


def write_forever(url: str) -> None:
    store = TrajectoryStore.open(url, create=True)
    for seed in range(10_000):
        store.append(synthetic.episode(steps=40, size=32, seed=seed))


def test_four_processes_append_at_once(tmp_path):
    url = str(tmp_path / "s")
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=write_many, args=(url, w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = TrajectoryStore.open(url)
    ids = store.episode_ids()
    assert len(ids) == len(set(ids)) == WRITERS * PER_WRITER
    assert store.verify() == []
    seeds = sorted(store.meta(i).seed for i in ids)
    assert seeds == sorted(w * 1000 + i for w in range(WRITERS) for i in range(PER_WRITER))
    for eid in ids[::10]:
        episode = store.read(eid)
        np.testing.assert_array_equal(episode.image, synthetic.frames(8, 8, episode.meta.seed))


def test_killed_writer_leaves_nothing_visible_and_fsck_removes_it(tmp_path):
    url = str(tmp_path / "s")
    ctx = mp.get_context("spawn")
    data_written = ctx.Event()
    proc = ctx.Process(target=write_then_hang_before_commit, args=(url, data_written))
    proc.start()
    assert data_written.wait(60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)

    store = TrajectoryStore.open(url)
    assert [store.meta(i).seed for i in store.episode_ids()] == [1]
    episode_dirs = lambda: sorted(p.name for p in (tmp_path / "s" / "episodes").iterdir() if p.is_dir())  # noqa: E731
    assert len(episode_dirs()) == 2  # the committed one and the leftover
    assert store.fsck(older_than=3600, dry_run=False) == []  # too young: could still be in progress
    planned = store.fsck(older_than=0, dry_run=True)
    assert len(planned) == 1 and "would remove episodes/" in planned[0]
    assert len(episode_dirs()) == 2
    removed = store.fsck(older_than=0, dry_run=False)
    assert len(removed) == 1 and removed[0].startswith("removed episodes/")
    assert episode_dirs() == store.episode_ids()
    assert store.verify() == []


def test_writer_killed_at_a_random_moment_never_exposes_a_partial_episode(tmp_path):
    url = str(tmp_path / "s")
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=write_forever, args=(url,))
    proc.start()
    deadline = time.time() + 60
    while time.time() < deadline:  # let it commit a few, then kill it wherever it is
        try:
            if len(TrajectoryStore.open(url)) >= 3:
                break
        except StoreError:  # not created yet
            pass
        time.sleep(0.05)
    time.sleep(0.037)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    store = TrajectoryStore.open(url)
    assert len(store) >= 3
    assert store.verify() == []  # every visible episode reads back whole
    store.fsck(older_than=0)
    leftovers = [p.name for p in (tmp_path / "s" / "episodes").iterdir() if p.is_dir()]
    assert sorted(leftovers) == store.episode_ids()
    assert not [p for p in (tmp_path / "s" / "commits").iterdir() if p.name.startswith(".")]


def create_in_lockstep(root: str, barrier) -> None:
    for trial in range(20):
        barrier.wait(timeout=30)  # all writers hit the same missing store at the same moment
        TrajectoryStore.open(f"{root}/s{trial}", create=True)


def test_writers_racing_to_create_the_same_store_all_succeed(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=create_in_lockstep, args=(str(tmp_path), barrier)) for _ in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    for trial in range(20):
        assert len(TrajectoryStore.open(tmp_path / f"s{trial}")) == 0
