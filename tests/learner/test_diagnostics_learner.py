"""Diagnostics: open-loop video, reward plot, epsilon_u, TensorBoard logging."""

import numpy as np
import torch
from helpers.learner import ACTION_DIM, random_batch, random_episode, tiny_config

from moto_rl.learner.diagnostics import epsilon_u, log_diagnostics, open_loop_prediction, reward_prediction
from moto_rl.learner.learner import Learner


def test_open_loop_and_reward_prediction_shapes():
    learner = Learner(tiny_config(), ACTION_DIM)
    ep = random_episode()
    video = open_loop_prediction(learner.world_model, ep, context=3, horizon=6)
    assert video.shape == (9, 64, 192, 3) and video.dtype == np.uint8
    assert np.array_equal(video[:, :, :64], ep.image[:9])
    pred, true = reward_prediction(learner.world_model, ep)
    assert pred.shape == true.shape == (13,)


def test_epsilon_u_is_zero_for_identical_members_and_positive_otherwise():
    learner = Learner(tiny_config(), ACTION_DIM)
    eps = [random_episode(seed=1)]
    assert epsilon_u(learner.world_model, eps, horizon=3) > 0
    ens = learner.world_model.rssm.prior_ensemble
    with torch.no_grad():
        for p in (ens.w1, ens.b1, ens.ln_w, ens.ln_b, ens.w2, ens.b2):
            p.copy_(p[:1].expand_as(p))
    assert epsilon_u(learner.world_model, eps, horizon=3) == 0.0


def test_log_diagnostics_writes_tensorboard(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    learner = Learner(tiny_config(), ACTION_DIM)
    writer = SummaryWriter(str(tmp_path))
    out = log_diagnostics(learner, [random_episode(seed=2), random_episode(seed=3)], writer, step=1)
    writer.close()
    assert out["diag/epsilon_u"] > 0
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


def test_diagnostics_leave_the_updates_after_them_unchanged(tmp_path):
    """They draw latents, but on a forked RNG: a run's updates do not depend on logging.diagnostics_every."""
    from torch.utils.tensorboard import SummaryWriter

    cfg = tiny_config()
    batch, episodes = random_batch(cfg), [random_episode(seed=2)]
    world_model = Learner(cfg, ACTION_DIM).world_model
    before = torch.random.get_rng_state()
    epsilon_u(world_model, episodes, horizon=3)
    assert not torch.equal(before, torch.random.get_rng_state())  # unforked, they would shift the draws

    def two_updates(with_diagnostics: bool) -> list[torch.Tensor]:
        learner = Learner(cfg, ACTION_DIM)  # seeds torch from cfg.seed
        learner.train_step(batch)
        if with_diagnostics:
            writer = SummaryWriter(str(tmp_path / "tb"))
            log_diagnostics(learner, episodes, writer, step=1)
            writer.close()
        learner.train_step(batch)
        return [p.detach().clone() for m in (learner.world_model, learner.agent) for p in m.parameters()]

    plain, diagnosed = two_updates(False), two_updates(True)
    assert all(torch.equal(a, b) for a, b in zip(plain, diagnosed, strict=True))
