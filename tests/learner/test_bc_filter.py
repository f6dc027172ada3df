"""Filtered BC: L_pi_reg = - mean log pi(a | s) * f."""

import torch
from helpers.learner import ACTION_DIM, random_batch, tiny_config

from moto_rl.learner.actor_critic import RealTransitions
from moto_rl.learner.learner import Learner


def _setup(success: float):
    cfg = tiny_config()
    learner = Learner(cfg, ACTION_DIM)
    batch = random_batch(cfg, success=success)
    with torch.no_grad():
        post = learner.world_model.loss(batch).post
    b, t = batch.reward.shape
    return learner, RealTransitions(post.feat, batch, torch.arange(b * t))


def test_bc_term_is_zero_without_successful_transitions():
    learner, real = _setup(success=0.0)
    bc = learner.agent.bc_loss(real)
    assert bc.item() == 0.0


def test_bc_matches_reference_on_partial_success():
    learner, real = _setup(success=1.0)
    real.batch.bc_filter[1] = 0.0  # second sequence from a failed episode
    batch = real.batch
    dist = learner.agent.actor(real.feat[:, :-1])
    logp = dist.log_prob(batch.action[:, 1:])  # (B, T-1): log pi(a_{j+1} | s_j)
    total, count = 0.0, 0
    for i in range(batch.action.shape[0]):
        for j in range(batch.action.shape[1] - 1):
            if batch.is_first[i, j + 1]:
                continue
            count += 1
            total += logp[i, j].item() * batch.bc_filter[i, j + 1].item()
    assert abs(learner.agent.bc_loss(real).item() - (-total / count)) < 1e-5


def test_bc_steps_raise_log_prob_of_demo_actions():
    learner, real = _setup(success=1.0)
    actor = learner.agent.actor
    opt = torch.optim.Adam(actor.parameters(), lr=1e-3)

    def mean_logp():
        with torch.no_grad():
            return actor(real.feat[:, :-1]).log_prob(real.batch.action[:, 1:]).mean().item()

    before = mean_logp()
    for _ in range(20):
        opt.zero_grad()
        learner.agent.bc_loss(real).backward()
        opt.step()
    assert mean_logp() > before + 0.1
