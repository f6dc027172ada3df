"""Round trips, validation before writing, clear errors for missing / foreign / newer stores, memory://."""

import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
import zarr

from moto_rl.storage import CorruptEpisode, StoreError, TrajectoryStore, synthetic
from moto_rl.storage import format as fmt


def small(seed: int, **kw):
    return synthetic.episode(steps=10, size=8, seed=seed, **kw)


def assert_same(a, b):
    for name in ("image", "action", "reward", "is_terminal", "step_success"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.meta == b.meta


def test_round_trip_reopen_and_since(tmp_path):
    store = TrajectoryStore.open(tmp_path / "s", create=True)
    episodes = [small(i, success=i % 2 == 0, source="offline" if i < 2 else "online") for i in range(5)]
    episodes[3].meta.completion = {"microwave": True, "kettle": False}
    ids = [store.append(e) for e in episodes]
    assert ids == sorted(ids) and len(set(ids)) == 5
    reopened = TrajectoryStore.open(str(tmp_path / "s"))
    assert reopened.episode_ids() == ids and len(reopened) == 5
    for eid, episode in zip(ids, episodes, strict=True):
        assert_same(reopened.read(eid), episode)
        assert reopened.meta(eid) == episode.meta
    assert reopened.episode_ids(since=ids[2]) == ids[3:]
    stats = reopened.stats()
    assert stats["episodes"] == 5 and stats["frames"] == 55 and stats["steps"] == 50
    assert stats["success_rate"] == pytest.approx(3 / 5)
    assert stats["by_source"] == {"offline": 2, "online": 3} and stats["bytes"] > 0
    assert reopened.verify() == []


def test_all_black_episode_is_stored_not_skipped(tmp_path):
    """Zarr skips all-fill-value chunks by default; a black episode must still read back and verify."""
    store = TrajectoryStore.open(tmp_path / "s", create=True)
    black = small(0, image=np.zeros((11, 8, 8, 3), np.uint8))
    black.action[:] = 0
    black.reward[:] = 0
    eid = store.append(black)
    assert store.verify() == []
    chunk_files = list((tmp_path / "s" / "episodes" / eid / "image").rglob("c/*/*/*/*"))
    assert len(chunk_files) == 1
    assert_same(store.read(eid), black)


@pytest.mark.parametrize(
    "breaks, message",
    [
        (lambda e: setattr(e, "image", e.image[..., :2]), "image"),
        (lambda e: setattr(e, "reward", e.reward[:-1]), "reward"),
        (lambda e: e.action.__setitem__((3, 0), np.nan), "non-finite action"),
        (lambda e: setattr(e.meta, "source", "somewhere"), "source"),
    ],
)
def test_invalid_episode_is_rejected_before_writing(tmp_path, breaks, message):
    store = TrajectoryStore.open(tmp_path / "s", create=True)
    episode = small(0)
    breaks(episode)
    with pytest.raises(StoreError, match=message):
        store.append(episode)
    assert len(store) == 0
    assert sorted(p.name for p in (tmp_path / "s" / "episodes").iterdir()) == ["zarr.json"]


def test_missing_path_says_how_to_create(tmp_path):
    with pytest.raises(StoreError, match=r"no store at .*missing.*create=True"):
        TrajectoryStore.open(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_non_store_paths_are_refused(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="not a moto trajectory store"):
        TrajectoryStore.open(tmp_path / "dir", create=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a moto trajectory store"):
        TrajectoryStore.open(tmp_path / "file")
    zarr.open_group(str(tmp_path / "other"), mode="w", attributes={"someone": "else"})
    with pytest.raises(StoreError, match="not a moto trajectory store"):
        TrajectoryStore.open(tmp_path / "other")
    assert (tmp_path / "dir" / "notes.txt").read_text() == "hello"


def test_newer_format_version_is_refused(tmp_path):
    TrajectoryStore.open(tmp_path / "s", create=True).append(small(0))
    header_path = tmp_path / "s" / "zarr.json"
    header = json.loads(header_path.read_text())
    header["attributes"][fmt.ATTR_KEY]["format_version"] = fmt.FORMAT_VERSION + 1
    header_path.write_text(json.dumps(header))
    with pytest.raises(StoreError, match=rf"format version {fmt.FORMAT_VERSION + 1}, newer .*upgrade moto"):
        TrajectoryStore.open(tmp_path / "s")


def test_unknown_id_is_a_clear_error(tmp_path):
    store = TrajectoryStore.open(tmp_path / "s", create=True)
    with pytest.raises(StoreError, match="no committed episode nope"):
        store.read("nope")


def test_memory_url_uses_the_same_code():
    url = f"memory://moto-test-{uuid.uuid4().hex}"
    with pytest.raises(StoreError, match="no store at"):
        TrajectoryStore.open(url)
    store = TrajectoryStore.open(url, create=True)
    episodes = [small(i) for i in range(3)]
    ids = [store.append(e) for e in episodes]
    again = TrajectoryStore.open(url)
    assert again.episode_ids() == ids
    for eid, episode in zip(ids, episodes, strict=True):
        assert_same(again.read(eid), episode)
    assert again.verify() == [] and again.stats()["episodes"] == 3


def test_store_that_lost_its_header_is_refused_and_left_alone(tmp_path):
    TrajectoryStore.open(tmp_path / "s", create=True).append(small(0))
    (tmp_path / "s" / "zarr.json").unlink()
    before = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "s").rglob("*"))
    for create in (False, True):
        with pytest.raises(StoreError, match="header zarr.json is missing"):
            TrajectoryStore.open(tmp_path / "s", create=create)
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "s").rglob("*")) == before


def test_creation_cut_short_before_the_header_is_finished_by_the_next_creator(tmp_path):
    # what a creator killed mid-write leaves: zarr's temporary header and the empty episodes group
    (tmp_path / "s" / "episodes").mkdir(parents=True)
    (tmp_path / "s" / "zarr.json.0123abcd.partial").write_text("{")
    with pytest.raises(StoreError, match="no store at"):
        TrajectoryStore.open(tmp_path / "s")
    store = TrajectoryStore.open(tmp_path / "s", create=True)
    store.append(small(0))
    assert len(TrajectoryStore.open(tmp_path / "s")) == 1


FORMAT_1_STORE = Path(__file__).parent / "data" / "store_v1"  # written by the format-1 code, committed as is


def test_format_1_store_reads_and_grows_in_the_current_format(tmp_path):
    """Format 1 also stored is_first/is_last and called the per-step flag "success"; its episodes still
    read (checksums included), new episodes beside them store only what is read, and the header's
    version moves up so an older moto refuses the store by version instead of calling episodes corrupt."""
    shutil.copytree(FORMAT_1_STORE, tmp_path / "s")
    store = TrajectoryStore.open(tmp_path / "s")
    old_ids = store.episode_ids()
    assert [store.marker(i)["format_version"] for i in old_ids] == [1, 1]
    first, second = (store.read(i) for i in old_ids)
    assert first.length == 4 and first.meta.success and first.step_success.tolist() == [False, False, True, True, True]
    assert second.length == 3 and second.is_terminal[-1]
    assert second.meta.completion == {"microwave": True, "kettle": False}
    assert store.verify() == []

    new_id = store.append(small(7))
    assert set(store.marker(new_id)["arrays"]) == {"image", "action", "reward", "is_terminal", "step_success"}
    assert sorted(p.name for p in (tmp_path / "s" / "episodes" / new_id).iterdir() if p.is_dir()) == sorted(fmt.ARRAYS)
    header = json.loads((tmp_path / "s" / "zarr.json").read_text())
    assert header["attributes"][fmt.ATTR_KEY]["format_version"] == fmt.FORMAT_VERSION == 2
    reopened = TrajectoryStore.open(tmp_path / "s")
    assert reopened.episode_ids() == [*old_ids, new_id] and reopened.verify() == []
    assert_same(reopened.read(old_ids[0]), first)


def test_marker_of_an_unknown_format_names_its_version(tmp_path):
    store = TrajectoryStore.open(tmp_path / "s", create=True)
    eid = store.append(small(0))
    path = tmp_path / "s" / "commits" / f"{eid}.json"
    marker = json.loads(path.read_text())
    marker["format_version"] = 9
    path.write_text(json.dumps(marker))
    with pytest.raises(CorruptEpisode, match="format version 9, this moto reads \\[1, 2\\]; upgrade moto"):
        TrajectoryStore.open(tmp_path / "s").read(eid)
