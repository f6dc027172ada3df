"""Kitchen importers: frames equal live rendering at the recorded states, rewards and BC flags are
recomputed for the task, reruns add nothing, bad files leave the store unchanged."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from helpers.kitchen_files import MIXED_ALL, PARTIAL_ONLY, STEPS, live_frames, write_d4rl_kitchen, write_minari_kitchen

from moto_rl.common.envs.kitchen import goal_reached, split_state
from moto_rl.common.errors import UserError
from moto_rl.storage import TrajectoryStore, synthetic
from moto_rl.storage.datasets.d4rl_kitchen import import_d4rl_kitchen
from moto_rl.storage.datasets.minari_kitchen import import_minari_kitchen


def _episodes(url):
    store = TrajectoryStore.open(url)
    eps = [store.read(i) for i in store.episode_ids()]
    return sorted(eps, key=lambda e: e.meta.worker)


def _expected_reward(qpos: np.ndarray, objects: tuple[str, ...]) -> np.ndarray:
    r = np.array([sum(goal_reached(q, o) for o in objects) for q in qpos], np.float32)
    r[0] = 0.0  # row 0 is the reset frame
    return r


def test_d4rl_kitchen_frames_rewards_flags_and_rerun(tmp_path, kitchen_rollouts):
    r = kitchen_rollouts
    path = tmp_path / "kitchen-tiny.hdf5"
    write_d4rl_kitchen(path, r, infos=True)
    url = str(tmp_path / "mixed")
    report = import_d4rl_kitchen(path, "kitchen/mixed", url, progress=False)
    assert len(report.added) == 3
    eps = _episodes(url)
    assert [e.meta.worker for e in eps] == [f"import:kitchen-tiny.hdf5:{i}" for i in range(3)]
    for e, qpos, qvel, acts, frames in zip(eps, r.qpos, r.qvel, r.actions, r.frames, strict=True):
        assert e.image.shape == (STEPS + 1, 64, 64, 3) and e.image.dtype == np.uint8
        np.testing.assert_array_equal(e.image, live_frames("kitchen/mixed", qpos, qvel))
        # and exactly what the rollout itself showed (the env renders the post-step kinematics)
        np.testing.assert_array_equal(e.image, frames)
        np.testing.assert_array_equal(e.action[1:], acts)
        assert not e.action[0].any()
        np.testing.assert_array_equal(e.reward, _expected_reward(qpos, MIXED_ALL))
        assert e.meta.source == "offline" and e.meta.task == "kitchen/mixed"
    assert [e.meta.success for e in eps] == [False, False, True]  # only episode 2 has all four in place
    assert eps[1].meta.completion == {"microwave": True, "kettle": True, "light switch": False, "slide cabinet": False}
    assert eps[2].reward.max() == 4.0

    again = import_d4rl_kitchen(path, "kitchen/mixed", url, progress=False)
    assert again.added == [] and again.skipped == 3
    assert len(TrajectoryStore.open(url).episode_ids()) == 3


def test_d4rl_kitchen_partial_from_observations_only(tmp_path, kitchen_rollouts):
    r = kitchen_rollouts
    path = tmp_path / "obs-only.hdf5"
    write_d4rl_kitchen(path, r, infos=False)  # states from the 60-dim observation: qpos only
    url = str(tmp_path / "partial")
    import_d4rl_kitchen(path, "kitchen/partial", url, progress=False)
    eps = _episodes(url)
    # partial's filter is its first three objects: episodes 1 (exactly those) and 2 (mixed's four include
    # microwave and kettle but not bottom burner) differ
    assert [e.meta.success for e in eps] == [False, True, False]
    assert set(eps[1].meta.completion) == {"microwave", "kettle", "bottom burner", "light switch"}
    for e, qpos in zip(eps, r.qpos, strict=True):
        np.testing.assert_array_equal(
            e.reward, _expected_reward(qpos, ("microwave", "kettle", "bottom burner", "light switch"))
        )
        np.testing.assert_array_equal(e.image, live_frames("kitchen/partial", qpos, np.zeros((len(qpos), 29))))
    assert PARTIAL_ONLY == ("microwave", "kettle", "bottom burner")


def test_minari_kitchen_matches_live_rendering(tmp_path, kitchen_rollouts, monkeypatch):
    r = kitchen_rollouts
    folder = write_minari_kitchen(tmp_path / "minari", r, monkeypatch)
    url = str(tmp_path / "store")
    report = import_minari_kitchen(folder, "kitchen/mixed", url, progress=False)
    assert len(report.added) == 3
    eps = _episodes(url)
    assert [e.meta.worker for e in eps] == [f"import:kitchen-tiny-v0:{i}" for i in range(3)]
    for e, obs, acts, frames in zip(eps, r.obs59, r.actions, r.frames, strict=True):
        states = [split_state(o) for o in obs]  # the env's own 59-dim layout
        qpos = np.stack([s[0] for s in states])
        np.testing.assert_array_equal(e.image, live_frames("kitchen/mixed", qpos, np.stack([s[1] for s in states])))
        assert np.abs(e.image.astype(int) - frames).mean() < 2.0  # observation noise is ~1e-3
        np.testing.assert_allclose(e.action[1:], acts, rtol=1e-6)
        np.testing.assert_array_equal(e.reward, _expected_reward(qpos, MIXED_ALL))
    assert [e.meta.success for e in eps] == [False, False, True]
    again = import_minari_kitchen(folder, "kitchen/mixed", url, progress=False)
    assert again.added == [] and again.skipped == 3


# ---- bad files: a clear UserError, and the store is left as it was ----------------------------------


def _store(tmp_path):
    url = str(tmp_path / "store")
    TrajectoryStore.open(url, create=True)
    return url


def _rewrite(path, **changes):
    with h5py.File(path, "a") as f:
        for key, value in changes.items():
            del f[key]
            if value is not None:
                f[key] = value


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "has no 'actions'"),
        ("shape", "expected (N, 60)"),
        ("actions", "has shape (21, 4), expected (21, 9)"),
        ("truncated", "not a readable HDF5 file"),
        ("not-kitchen", "not Franka Kitchen states"),
        ("nan", "NaN"),
    ],
)
def test_bad_d4rl_kitchen_files_fail_and_leave_store_unchanged(tmp_path, kitchen_rollouts, case, message):
    path = tmp_path / "bad.hdf5"
    write_d4rl_kitchen(path, kitchen_rollouts, infos=False)
    url = _store(tmp_path)
    TrajectoryStore.open(url).append(synthetic.episode(steps=3))  # a store that already holds an episode
    before = TrajectoryStore.open(url).episode_ids()
    bad = path
    with h5py.File(bad, "r") as f:
        obs, n = f["observations"][...], f["observations"].shape[0]
    if case == "missing":
        _rewrite(bad, actions=None)
    elif case == "shape":
        _rewrite(bad, observations=np.zeros((n, 39)))
    elif case == "actions":
        _rewrite(bad, actions=np.zeros((n, 4)))
    elif case == "truncated":
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    elif case == "not-kitchen":  # right shape, wrong content: e.g. another robot's 60-dim states
        obs[-3:] = np.random.default_rng(0).normal(0, 3, (3, 60))  # only the last episode is bad
        _rewrite(bad, observations=obs)
    elif case == "nan":
        obs[-1, 5] = np.nan
        _rewrite(bad, observations=obs)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        import_d4rl_kitchen(bad, "kitchen/mixed", url, progress=False)
    assert TrajectoryStore.open(url).episode_ids() == before


def test_bad_minari_kitchen_and_wrong_task(tmp_path, kitchen_rollouts, monkeypatch):
    folder = write_minari_kitchen(tmp_path / "minari", kitchen_rollouts, monkeypatch)
    url = _store(tmp_path)
    with pytest.raises(UserError, match="for kitchen tasks"):
        import_minari_kitchen(folder, "metaworld/drawer-open", url, progress=False)
    with pytest.raises(UserError, match="not a Minari dataset folder"):
        import_minari_kitchen(tmp_path, "kitchen/mixed", url, progress=False)
    data = f"{folder}/data/main_data.hdf5"
    with h5py.File(data, "a") as f:  # the last episode's observation loses its object velocities
        obs = f["episode_2/observations/observation"][...]
        del f["episode_2/observations/observation"]
        f["episode_2/observations/observation"] = obs[:, :39]
    with pytest.raises(
        UserError, match=r"episode 2 observations\['observation'\] has shape \(7, 39\), expected \(N, 59\)"
    ):
        import_minari_kitchen(folder, "kitchen/mixed", url, progress=False)
    assert TrajectoryStore.open(url).episode_ids() == []
