"""Damaged data is reported, naming the episode, by verify, read, the CLI and the sampler: never trained on."""

import logging

import pytest

from moto_rl.deploy.cli import main as moto
from moto_rl.storage import CorruptEpisode, Sampler, TrajectoryStore, synthetic


@pytest.fixture
def store_with_three(tmp_path):
    store = TrajectoryStore.open(tmp_path / "s", create=True)
    ids = [store.append(synthetic.episode(steps=20, size=16, seed=i)) for i in range(3)]
    return store, ids, tmp_path / "s"


def image_chunk(root, episode_id):
    (chunk,) = [p for p in (root / "episodes" / episode_id / "image" / "c").rglob("*") if p.is_file()]
    return chunk


def test_flipped_bytes_in_a_chunk_are_reported_everywhere(store_with_three, caplog, capsys):
    store, ids, root = store_with_three
    chunk = image_chunk(root, ids[1])
    data = bytearray(chunk.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 16):
        data[i] ^= 0xFF
    chunk.write_bytes(bytes(data))

    problems = store.verify()
    assert len(problems) == 1 and ids[1] in problems[0]
    with pytest.raises(CorruptEpisode, match=ids[1]):
        store.read(ids[1])
    assert moto(["store", "verify", str(root)]) == 1
    assert ids[1] in capsys.readouterr().out

    with caplog.at_level(logging.WARNING, logger="moto_rl.storage.sampler"):
        sampler = Sampler(store, batch_size=4, seq_len=5, prefetch=0, refresh_seconds=0)
    assert sampler.corrupt_episodes == [ids[1]]
    assert sampler.num_episodes == 2 and ids[1] in caplog.text and "CORRUPT" in caplog.text
    seeds = {int(s) for s in sampler.sample().action[:, 1:, 0].flatten().tolist()}
    assert seeds <= {0, 2}
    sampler.close()


def test_missing_chunk_is_not_mistaken_for_fill_value(store_with_three):
    store, ids, root = store_with_three
    image_chunk(root, ids[0]).unlink()  # Zarr alone would read this as zeros
    problems = store.verify()
    assert len(problems) == 1 and ids[0] in problems[0] and "checksum" in problems[0]


def test_truncated_commit_marker_is_reported(store_with_three):
    store, ids, root = store_with_three
    marker = root / "commits" / f"{ids[2]}.json"
    marker.write_bytes(marker.read_bytes()[:40])
    fresh = TrajectoryStore.open(root)
    problems = fresh.verify()
    assert len(problems) == 1 and ids[2] in problems[0] and "marker" in problems[0]
