"""Generic D4RL-format HDF5 with image observations: episode split, time alignment, layouts, errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from moto_rl.common.errors import UserError
from moto_rl.storage import TrajectoryStore
from moto_rl.storage.datasets.d4rl_images import import_d4rl_images


def _write(path, channels_first: bool = False, n: int = 10) -> np.ndarray:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f["observations"] = images.transpose(0, 3, 1, 2) if channels_first else images
        f["actions"] = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
        f["rewards"] = np.arange(n, dtype=np.float32) / 10
        ends = np.zeros(n, bool)
        ends[5] = True  # rows 0..5 and 6..9
        f["terminals"] = ends
        f["timeouts"] = np.zeros(n, bool)
    return images


@pytest.mark.parametrize("channels_first", [False, True])
def test_d4rl_images_split_and_alignment(tmp_path, channels_first):
    path = tmp_path / "images.hdf5"
    images = _write(path, channels_first)
    url = str(tmp_path / "store")
    report = import_d4rl_images(path, "metaworld/drawer-open", url, progress=False)
    store = TrajectoryStore.open(url)
    eps = sorted((store.read(i) for i in report.added), key=lambda e: e.meta.worker)
    assert [e.meta.worker for e in eps] == ["import:images.hdf5:0", "import:images.hdf5:1"]
    first, second = eps
    np.testing.assert_array_equal(first.image, images[0:6])
    np.testing.assert_array_equal(second.image, images[6:10])
    # row t: the action that led to frame t and the reward received on reaching it
    np.testing.assert_array_equal(first.action[1:], np.arange(20, dtype=np.float32).reshape(5, 4))
    np.testing.assert_allclose(first.reward, [0, 0, 0.1, 0.2, 0.3, 0.4])
    assert first.is_terminal[-1] and not first.is_terminal[:-1].any() and not second.is_terminal.any()
    assert first.meta.success  # sparse MetaWorld reward > 0
    again = import_d4rl_images(path, "metaworld/drawer-open", url, progress=False)
    assert again.added == [] and again.skipped == 2


def test_d4rl_images_bad_files_leave_store_unchanged(tmp_path):
    url = str(tmp_path / "store")
    TrajectoryStore.open(url, create=True)
    wrong = tmp_path / "state.hdf5"
    with h5py.File(wrong, "w") as f:
        f["observations"] = np.zeros((10, 39), np.float32)
        f["actions"] = np.zeros((10, 4), np.float32)
        f["rewards"] = np.zeros(10, np.float32)
        f["terminals"] = np.zeros(10, bool)
    with pytest.raises(UserError, match=r"observations'\] has shape \(10, 39\), expected \(10, 64, 64, 3\)"):
        import_d4rl_images(wrong, "metaworld/drawer-open", url, progress=False)
    with pytest.raises(UserError, match="no file at"):
        import_d4rl_images(tmp_path / "nope.hdf5", "metaworld/drawer-open", url, progress=False)
    with pytest.raises(UserError, match="unknown task"):
        import_d4rl_images(wrong, "metaworld/drawer-opn", url, progress=False)
    assert TrajectoryStore.open(url).episode_ids() == []
