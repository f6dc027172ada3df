"""The sampler: windows inside episodes, success mask, uniformity, refresh, eviction, clear errors."""

import collections
import time

import numpy as np
import pytest
import torch

from moto_rl.storage import Sampler, StoreError, TrajectoryStore, synthetic


def fill(tmp_path, lengths, success=(), offline=()):
    store = TrajectoryStore.open(tmp_path / "s", create=True)
    for tag, steps in enumerate(lengths):
        source = "offline" if tag in offline else "online"
        store.append(synthetic.episode(steps=steps, size=8, seed=tag, tag=tag, success=tag in success, source=source))
    return store


def windows(batch):
    """(tag, start row) per sequence; asserts each window lies inside one episode."""
    out = []
    for b in range(batch.shape[0]):
        rows = batch.action[b, :, 1].numpy().astype(int)  # row index within the episode (0 at reset)
        rewards = batch.reward[b].numpy()
        tags = np.round(rewards[rows > 0] - rows[rows > 0] / 1000).astype(int)
        assert (np.diff(rows) == 1).all(), "window skips rows or crosses into another episode"
        assert len(set(tags.tolist())) == 1, "window mixes episodes"
        if rows[0] > 0:
            assert batch.action[b, 0, 0] == tags[0]
        assert batch.is_first[b].numpy().tolist() == (rows == 0).tolist()
        out.append((int(tags[0]), int(rows[0])))
    return out


def test_windows_stay_inside_episodes_and_mask_success(tmp_path):
    lengths = [3, 9, 20, 7, 15]  # steps; 3-step episodes have 4 rows < seq_len and are never sampled
    store = fill(tmp_path, lengths, success={2, 4})
    sampler = Sampler(store, batch_size=32, seq_len=8, prefetch=0, refresh_seconds=0, seed=1)
    seen = set()
    for _ in range(20):
        batch = sampler.sample()
        assert batch.image.shape == (32, 8, 8, 8, 3) and batch.image.dtype == torch.uint8
        assert batch.action.shape == (32, 8, 4) and batch.bc_filter.dtype == torch.float32
        for b, (tag, start) in enumerate(windows(batch)):
            assert start + 8 <= lengths[tag] + 1
            assert batch.bc_filter[b].tolist() == [float(tag in {2, 4})] * 8
            seen.add(tag)
    assert seen == {1, 2, 3, 4}
    sampler.close()


def test_uniform_over_valid_windows(tmp_path):
    store = fill(tmp_path, [7, 11, 19])  # rows 8, 12, 20 with seq_len 8: 1 + 5 + 13 = 19 windows
    sampler = Sampler(store, batch_size=500, seq_len=8, prefetch=0, refresh_seconds=0, seed=0)
    counts = collections.Counter(w for _ in range(40) for w in windows(sampler.sample()))
    assert len(counts) == 19
    expected = 40 * 500 / 19
    assert all(abs(c - expected) < 0.15 * expected for c in counts.values()), counts
    sampler.close()


def test_reopened_store_gives_the_same_episodes(tmp_path):
    fill(tmp_path, [5, 6, 7])
    first = Sampler(TrajectoryStore.open(tmp_path / "s"), 2, 4, prefetch=0, refresh_seconds=0)
    second = Sampler(TrajectoryStore.open(tmp_path / "s"), 2, 4, prefetch=0, refresh_seconds=0)
    for a, b in zip(first.episodes(), second.episodes(), strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.action, b.action)
        assert a.meta == b.meta
    assert first.num_frames == second.num_frames == 6 + 7 + 8


def test_refresh_reads_only_new_episodes(tmp_path, monkeypatch):
    store = fill(tmp_path, [5, 5])
    sampler = Sampler(store, 2, 4, prefetch=0, refresh_seconds=0)
    reads = []
    original = store.read
    monkeypatch.setattr(store, "read", lambda eid: reads.append(eid) or original(eid))
    assert sampler.refresh() == 0 and reads == []
    new = [store.append(synthetic.episode(steps=5, size=8, seed=s)) for s in (10, 11)]
    assert sampler.refresh() == 2
    assert sorted(reads) == sorted(new) and sampler.num_episodes == 4
    assert sampler.refresh() == 0 and len(reads) == 2
    sampler.close()


def test_background_refresh_and_prefetch_pick_up_new_episodes(tmp_path):
    store = fill(tmp_path, [6])
    sampler = Sampler(store, 4, 5, prefetch=2, refresh_seconds=0.05)
    assert {t for t, _ in windows(sampler.sample())} == {0}
    store.append(synthetic.episode(steps=6, size=8, seed=1, tag=1))
    deadline = time.time() + 30
    while sampler.num_episodes < 2 and time.time() < deadline:
        time.sleep(0.02)
    assert sampler.num_episodes == 2
    tags = {t for _ in range(30) for t, _ in windows(sampler.sample())}
    assert tags == {0, 1}
    sampler.close()


def test_a_new_successful_online_episode_enters_the_bc_filter(tmp_path):
    """The BC filter f is rebuilt when the background refresh brings online episodes in: a successful
    one is trained on with f = 1 on every row, a failed one with f = 0."""
    store = fill(tmp_path, [8, 8], offline={0, 1})  # demos that failed: f = 0 until a success arrives
    sampler = Sampler(store, 16, 5, prefetch=2, refresh_seconds=0.05, seed=3)
    assert sampler.sample().bc_filter.max() == 0
    store.append(synthetic.episode(steps=8, size=8, seed=2, tag=2, success=True, source="online"))
    store.append(synthetic.episode(steps=8, size=8, seed=3, tag=3, success=False, source="online"))
    deadline = time.monotonic() + 60
    while sampler.num_episodes < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sampler.num_episodes == 4
    mask = {}
    for _ in range(50):
        batch = sampler.sample()
        for b, (tag, _) in enumerate(windows(batch)):
            mask.setdefault(tag, set()).update(batch.bc_filter[b].tolist())
    assert mask == {0: {0.0}, 1: {0.0}, 2: {1.0}, 3: {0.0}}
    sampler.close()


def test_eviction_drops_oldest_online_and_keeps_offline(tmp_path):
    # 8 episodes of 11 rows; 0, 1, 5 offline; cap 55 rows = 5 episodes
    store = fill(tmp_path, [10] * 8, offline={0, 1, 5})
    sampler = Sampler(store, 2, 4, max_frames=55, prefetch=0, refresh_seconds=0)
    kept = sorted(e.meta.seed for e in sampler.episodes())
    assert kept == [0, 1, 5, 6, 7] and sampler.num_frames == 55
    assert sorted(e.meta.seed for e in sampler.episodes("offline")) == [0, 1, 5]
    store.append(synthetic.episode(steps=10, size=8, seed=8))
    sampler.refresh()
    assert sorted(e.meta.seed for e in sampler.episodes()) == [0, 1, 5, 7, 8]
    tiny = Sampler(store, 2, 4, max_frames=11, prefetch=0, refresh_seconds=0)
    assert sorted(e.meta.seed for e in tiny.episodes()) == [0, 1, 5]  # offline never evicted


def test_no_long_enough_episode_is_a_clear_error(tmp_path):
    store = fill(tmp_path, [3, 4])
    sampler = Sampler(store, 2, seq_len=50, prefetch=2, refresh_seconds=0)
    with pytest.raises(StoreError, match=r"seq_len=50 .*2 episode\(s\).*longest has 5 rows"):
        sampler.sample()
    sampler.close()


def test_several_stores_feed_one_sampler(tmp_path):
    offline = TrajectoryStore.open(tmp_path / "demos", create=True)
    offline.append(synthetic.episode(steps=6, size=8, seed=0, tag=0, source="offline"))
    online = fill(tmp_path, [6, 6])
    sampler = Sampler([offline, online], 8, 4, prefetch=0, refresh_seconds=0)
    assert sampler.num_episodes == 3 and len(sampler.episodes("offline")) == 1


def test_same_seed_same_batches_and_short_episodes_counted(tmp_path):
    store = fill(tmp_path, [3, 12, 15, 9])  # the 3-step episode (4 rows) is too short for seq_len 6
    draws = []
    for _ in range(2):
        with Sampler(store, 4, 6, prefetch=2, refresh_seconds=0.05, seed=7) as sampler:  # threads on
            assert sampler.num_short_episodes == 1
            draws.append([windows(sampler.sample()) for _ in range(5)])
    assert draws[0] == draws[1]
    with Sampler(store, 4, 6, prefetch=0, refresh_seconds=0, seed=8) as other:
        assert [windows(other.sample()) for _ in range(5)] != draws[0]
