"""Checkpoints: exact resume, and a clear error for another size preset."""

import pytest
from helpers.learner import ACTION_DIM, random_batch, tiny_config

from moto_rl.common.config_loading import load_config
from moto_rl.learner.learner import CheckpointMismatchError, Learner


def test_resume_reproduces_next_step(tmp_path):
    cfg = tiny_config()
    first = Learner(cfg, ACTION_DIM)
    for i in range(2):
        first.train_step(random_batch(cfg, seed=i))
    first.save(tmp_path / "ckpt.pt")
    expected = first.train_step(random_batch(cfg, seed=5))

    resumed = Learner(tiny_config("seed=123"), ACTION_DIM)  # other init and RNG: all must come from the file
    resumed.load(tmp_path / "ckpt.pt")
    assert resumed.step == 2
    got = resumed.train_step(random_batch(cfg, seed=5))
    assert got == expected
    assert resumed.step == first.step == 3


def test_policy_weights_are_cpu_and_load_into_policy():
    import numpy as np

    from moto_rl.common.policy import Policy

    cfg = tiny_config()
    learner = Learner(cfg, ACTION_DIM)
    weights = learner.policy_weights()
    assert all(v.device.type == "cpu" for v in weights.values())
    policy = Policy(cfg.model, ACTION_DIM)
    policy.load_weights(weights)
    state = policy.initial_state(2)
    actions, state = policy.act(np.zeros((2, 64, 64, 3), np.uint8), np.array([True, True]), state)
    assert actions.shape == (2, ACTION_DIM) and actions.dtype == np.float32
    assert np.all(np.abs(actions) <= 1.0)
    det, _ = policy.act(np.zeros((2, 64, 64, 3), np.uint8), np.array([False, False]), state, deterministic=True)
    assert np.all(np.abs(det) <= 1.0)


def test_checkpoint_of_other_size_names_the_shapes(tmp_path):
    tiny = Learner(load_config(["size=tiny"]), ACTION_DIM)
    tiny.save(tmp_path / "tiny.pt")
    small = Learner(load_config(["size=small"]), ACTION_DIM)
    with pytest.raises(CheckpointMismatchError) as err:
        small.load(tmp_path / "tiny.pt")
    msg = str(err.value)
    assert "size=tiny" in msg and "size=small" in msg
    assert "world_model.encoder.convs.0.weight: checkpoint (8, 3, 4, 4) vs this model (32, 3, 4, 4)" in msg
    assert "parameter(s) differ" in msg and "world_model.decoder.dense.weight" in msg
    assert "same size preset and ablation" in msg


def test_checkpoint_of_another_action_space_says_so(tmp_path):
    kitchen = Learner(load_config(["size=tiny"]), 9)  # a Franka Kitchen policy
    path = tmp_path / "kitchen.pt"
    kitchen.save(path)
    with pytest.raises(CheckpointMismatchError) as err:
        Learner(load_config(["size=tiny"]), 4).load(path)  # on a MetaWorld task
    msg = str(err.value)
    assert "action_dim=9" in msg and "action_dim=4" in msg
    assert "Its policy acts in 9 dimensions, this task's in 4" in msg and "same size preset" not in msg
