"""Dreamer-style .npz folders: npz -> store -> npz is identical; reruns skip; bad files change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from moto_rl.common.errors import UserError
from moto_rl.deploy.cli import main as moto
from moto_rl.storage import TrajectoryStore
from moto_rl.storage.datasets.npz import import_npz


def _dreamer_episode(rng: np.random.Generator, steps: int, terminal: bool) -> dict[str, np.ndarray]:
    action = rng.uniform(-1, 1, (steps + 1, 4)).astype(np.float32)
    action[0] = 0
    reward = (rng.uniform(size=steps + 1) > 0.7).astype(np.float32)
    reward[0] = 0
    is_terminal = np.zeros(steps + 1, bool)
    is_terminal[-1] = terminal
    return {
        "image": rng.integers(0, 256, (steps + 1, 64, 64, 3), dtype=np.uint8),
        "action": action,
        "reward": reward,
        "is_first": np.eye(1, steps + 1, 0, dtype=bool)[0],
        "is_terminal": is_terminal,
        "discount": (1.0 - is_terminal).astype(np.float32),
        "success": reward > 0,
    }


def test_npz_round_trip_is_identical_and_rerun_adds_nothing(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "episodes"
    src.mkdir()
    originals = {}
    for i, (steps, terminal) in enumerate([(5, False), (9, True), (3, False)]):
        originals[f"ep{i}.npz"] = ep = _dreamer_episode(rng, steps, terminal)
        np.savez_compressed(src / f"ep{i}.npz", **ep)
    url = str(tmp_path / "store")
    assert moto(["import", "npz", str(src), "--task", "metaworld/hammer", "--store", url]) == 0
    store = TrajectoryStore.open(url)
    ids = store.episode_ids()
    assert len(ids) == 3
    by_key = {store.meta(i).worker: i for i in ids}
    assert set(by_key) == {f"import:episodes:ep{i}.npz" for i in range(3)}
    assert store.meta(by_key["import:episodes:ep1.npz"]).success == bool(originals["ep1.npz"]["success"].any())

    assert moto(["import", "npz", str(src), "--task", "metaworld/hammer", "--store", url]) == 0
    assert store.episode_ids() == ids

    out = tmp_path / "exported"
    assert moto(["export", "npz", url, str(out)]) == 0
    files = sorted(out.glob("*.npz"))
    assert len(files) == 3
    for name, eid in by_key.items():
        original = originals[name.rsplit(":", 1)[1]]
        (path,) = [f for f in files if f.name.startswith(eid)]
        assert path.name == f"{eid}-{len(original['image']) - 1}.npz"  # DreamerV2 reads the length from the name
        with np.load(path) as z:
            assert sorted(z.files) == sorted(original)
            for key, value in original.items():
                assert z[key].dtype == value.dtype, key
                np.testing.assert_array_equal(z[key], value, err_msg=key)


def test_npz_without_optional_keys_gets_success_from_sparse_reward(tmp_path):
    src = tmp_path / "minimal"
    src.mkdir()
    ep = _dreamer_episode(np.random.default_rng(1), 4, False)
    ep["reward"][:] = [0, 0, 1, 0, 0]
    np.savez(src / "a.npz", image=ep["image"], action=ep["action"].astype(np.float64), reward=ep["reward"])
    url = str(tmp_path / "store")
    import_npz(src, "metaworld/hammer", url, progress=False)
    store = TrajectoryStore.open(url)
    (eid,) = store.episode_ids()
    e = store.read(eid)
    np.testing.assert_array_equal(e.step_success, [False, False, True, False, False])
    assert e.meta.success and not e.is_terminal.any() and e.action.dtype == np.float32


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "has no reward"),
        ("shape", "expected (5, 64, 64, 3)"),
        ("rows", "'action' has shape (3, 4), expected (5, N)"),
        ("corrupt", "damaged or not an .npz"),
    ],
)
def test_bad_npz_fails_before_any_append(tmp_path, case, message):
    rng = np.random.default_rng(2)
    src = tmp_path / "episodes"
    src.mkdir()
    np.savez(src / "a-good.npz", **_dreamer_episode(rng, 4, False))  # sorted first: would be imported first
    bad = _dreamer_episode(rng, 4, False)
    if case == "missing":
        del bad["reward"]
    elif case == "shape":
        bad["image"] = bad["image"][:, :32]
    elif case == "rows":
        bad["action"] = bad["action"][:3]
    np.savez(src / "b-bad.npz", **bad)
    if case == "corrupt":
        data = (src / "b-bad.npz").read_bytes()
        (src / "b-bad.npz").write_bytes(data[: len(data) // 3])
    url = str(tmp_path / "store")
    TrajectoryStore.open(url, create=True)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        import_npz(src, "metaworld/hammer", url, progress=False)
    assert TrajectoryStore.open(url).episode_ids() == []
    # CLI: message, no traceback
    assert moto(["import", "npz", str(src), "--task", "metaworld/hammer", "--store", url]) == 2
