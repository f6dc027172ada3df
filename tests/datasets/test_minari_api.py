"""`moto import minari`: a dataset recorded with Minari's own DataCollector, found by id and by folder."""

import gymnasium as gym
import numpy as np
import pytest

from moto_rl.common.errors import UserError
from moto_rl.deploy.cli import main as moto
from moto_rl.storage import TrajectoryStore
from moto_rl.storage.datasets.minari_kitchen import import_minari_kitchen

EPISODE_STEPS = 4


@pytest.fixture
def collected(tmp_path, monkeypatch):
    """Two FrankaKitchen-v1 episodes of random actions recorded by minari.DataCollector under a tmp root."""
    import minari

    import moto_rl.common.envs.robotics  # noqa: F401  (registers FrankaKitchen-v1, quietly)

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    env = minari.DataCollector(gym.make("FrankaKitchen-v1", max_episode_steps=EPISODE_STEPS))
    rng = np.random.default_rng(0)
    actions = []
    for seed in range(2):
        env.reset(seed=seed)
        acts = []
        for _ in range(EPISODE_STEPS):
            a = rng.uniform(-1, 1, 9).astype(np.float32)
            acts.append(a)
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                break
        actions.append(np.stack(acts))
    env.create_dataset(
        "test/kitchen-collector-v0",
        algorithm_name="random",
        author="moto tests",
        author_email="tests@example.org",
        code_permalink="https://example.org",
        description="tiny",
    )
    env.close()
    return "test/kitchen-collector-v0", tmp_path / "minari" / "test" / "kitchen-collector-v0", actions


def test_import_by_id_and_by_folder_through_minari(collected, tmp_path):
    dataset_id, folder, actions = collected
    by_id = str(tmp_path / "by_id")
    assert moto(["import", "minari", dataset_id, "--task", "kitchen/mixed", "--store", by_id]) == 0
    store = TrajectoryStore.open(by_id)
    episodes = [store.read(eid) for eid in store.episode_ids()]
    assert len(episodes) == 2
    for ep, acts in zip(episodes, actions, strict=True):
        assert ep.length == EPISODE_STEPS
        np.testing.assert_allclose(ep.action[1:], acts, atol=1e-6)  # the recorded actions, in order (row 0: the reset)
        assert ep.image.shape == (EPISODE_STEPS + 1, 64, 64, 3) and ep.image.std() > 0  # rendered frames
        assert store.meta(store.episode_ids()[0]).task == "kitchen/mixed"

    again = import_minari_kitchen(dataset_id, "kitchen/mixed", by_id, progress=False)
    assert (len(again.added), again.skipped) == (0, 2)  # resumable: nothing imported twice

    by_folder = str(tmp_path / "by_folder")
    report = import_minari_kitchen(str(folder), "kitchen/mixed", by_folder, progress=False)
    assert len(report.added) == 2
    first = TrajectoryStore.open(by_folder).read(report.added[0])
    np.testing.assert_array_equal(first.image, episodes[0].image)  # the same episode either way


def test_unknown_id_says_how_to_fetch_it(collected, tmp_path):
    with pytest.raises(UserError, match=r"minari download D4RL/kitchen/nope-v2.*test/kitchen-collector-v0"):
        import_minari_kitchen("D4RL/kitchen/nope-v2", "kitchen/mixed", str(tmp_path / "s"), progress=False)
    assert not (tmp_path / "s").exists()  # nothing created for a dataset that is not there
