"""Pieces of the method that losses alone do not pin down: the Polyak target update, the minimum over
the twin critics, the random ensemble member of imagined transitions, and what the diagnostics show
(the open-loop strip's model and error panels, the predicted rewards).

Critic internals are reached only through ``critic_outputs`` and ``critic_params`` below, so a change
of their layout (e.g. twin critics as one batched module) is a change here, not in every test.
"""

import numpy as np
import pytest
import torch
from helpers.learner import ACTION_DIM, random_batch, random_episode, tiny_config

from moto_rl.common.episode import Episode
from moto_rl.common.networks import RSSMState
from moto_rl.learner.diagnostics import open_loop_prediction, reward_prediction
from moto_rl.learner.imagination import imagine
from moto_rl.learner.learner import Learner


def critic_params(learner: Learner, target: bool) -> list[torch.Tensor]:
    """Copies of the online (or target) critics' parameters, in a fixed order."""
    nets = learner.agent.targets if target else learner.agent.critics
    return [p.detach().clone() for p in nets.parameters()]


def critic_outputs(learner: Learner, feat: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Each online critic's Q(s, a) separately: (n_critics, ...)."""
    critics = learner.agent.critics  # one batched module; each member rebuilt as a plain MLP of its weights
    x = torch.cat([feat, action], -1)
    return torch.stack([critics.member_mlp(i)(x).squeeze(-1) for i in range(len(critics))])


def test_targets_follow_the_critics_by_polyak_averaging():
    cfg = tiny_config("algo.critic_tau=0.1")
    learner = Learner(cfg, ACTION_DIM)
    for seed in range(2):  # from step 1 on the targets and critics differ, so the average is visible
        target_before = critic_params(learner, target=True)
        learner.train_step(random_batch(cfg, seed=seed))
        online, target = critic_params(learner, target=False), critic_params(learner, target=True)
        for tb, o, t in zip(target_before, online, target, strict=True):
            torch.testing.assert_close(t, 0.9 * tb + 0.1 * o)  # target <- (1 - tau) target + tau online
    assert any(not torch.equal(t, o) for t, o in zip(target, online, strict=True))  # not a copy


def test_value_is_the_minimum_over_the_twin_critics():
    learner = Learner(tiny_config(), ACTION_DIM)
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(256, learner.world_model.rssm.feat_dim, generator=g)
    action = torch.rand(256, ACTION_DIM, generator=g) * 2 - 1
    with torch.no_grad():
        each = critic_outputs(learner, feat, action)
        value = learner.agent.value0(feat, action, target=False)
    assert each.shape[0] == 2
    torch.testing.assert_close(value, each.amin(0))
    lower = each.argmin(0)
    assert 0 < lower.sum() < lower.numel()  # each critic is the lower one somewhere: a true element-wise min


def test_imagined_transitions_use_one_random_member_per_sample(monkeypatch):
    """Member m's prior puts (almost) all mass on class m in every latent group, so the imagined z tells
    which member made it: one member for all groups of a sample (not the members' mean, under which
    the groups would pick classes independently), and every member used about equally often."""
    cfg = tiny_config()
    learner = Learner(cfg, ACTION_DIM)
    rssm = learner.world_model.rssm
    m, s, c = cfg.model.ensemble, cfg.model.stoch, cfg.model.classes
    assert c >= m

    def pointed_priors(deter):  # (N, D) -> (M, N, S, C)
        logits = torch.full((m, deter.shape[0], s, c), -30.0)
        for k in range(m):
            logits[k, :, :, k] = 30.0
        return logits + 0 * deter.sum()  # keep the graph shape of the real head

    monkeypatch.setattr(rssm, "prior_logits", pointed_priors)
    n = 400
    start = RSSMState(torch.zeros(n, cfg.model.deter), torch.zeros(n, s * c))
    torch.manual_seed(0)
    with torch.no_grad():
        traj = imagine(
            learner.world_model, learner.agent.actor, start, horizon=3, alpha=0.0, member=cfg.algo.imag_member
        )
    stoch = traj.feat[1:, :, -s * c :].reshape(3, n, s, c)  # z of the imagined steps
    classes = stoch.argmax(-1)  # (H, N, S)
    assert (classes == classes[..., :1]).all(), "latent groups of one sample came from different members"
    counts = np.bincount(classes[..., 0].flatten().numpy(), minlength=c)
    expected = 3 * n / m  # 171 per member; binomial sd ~12
    assert (np.abs(counts[:m] - expected) < 0.3 * expected).all() and counts[m:].sum() == 0, counts


def test_open_loop_strip_model_panel_predicts_from_context_and_actions_only():
    learner = Learner(tiny_config(), ACTION_DIM)
    wm, ep, context = learner.world_model, random_episode(16), 4

    def strip(episode):
        torch.manual_seed(0)  # the same latent samples for each call
        return open_loop_prediction(wm, episode, context=context, horizon=8).astype(np.int16)

    video = strip(ep)
    truth, model, error = video[..., :64, :], video[..., 64:128, :], video[..., 128:, :]
    assert video.shape == (12, 64, 192, 3)
    np.testing.assert_array_equal(truth, ep.image[:12])
    np.testing.assert_array_equal(error, np.abs(truth - model))
    # the predicted frames must not see the frames they predict ...
    later_frames_changed = Episode(**{**ep.__dict__, "image": ep.image.copy()})
    later_frames_changed.image[context:] = 0
    np.testing.assert_array_equal(strip(later_frames_changed)[..., 64:128, :], model)
    # ... but follow the recorded actions (a_t at row t leads to frame t) and the context frames
    other_actions = Episode(**{**ep.__dict__, "action": ep.action.copy()})
    other_actions.action[context + 2 :] *= -1
    changed = strip(other_actions)[..., 64:128, :]
    np.testing.assert_array_equal(changed[: context + 2], model[: context + 2])
    assert (changed[context + 2] != model[context + 2]).any()  # from the very frame whose action changed
    other_context = Episode(**{**ep.__dict__, "image": ep.image.copy()})
    other_context.image[:context] = 255 - other_context.image[:context]  # all of them: the inverse-CDF
    # sampler (common random numbers) keeps a latent sample when its probabilities move only a little
    assert (strip(other_context)[..., 64:128, :][context:] != model[context:]).any()


def test_predicted_rewards_are_the_reward_head_on_each_steps_own_posterior():
    learner = Learner(tiny_config(), ACTION_DIM)
    wm, ep, k = learner.world_model, random_episode(16), 7

    def predicted(episode, seed=0):
        torch.manual_seed(seed)
        return reward_prediction(wm, episode)

    pred, true = predicted(ep)
    np.testing.assert_array_equal(true, ep.reward)
    assert pred.shape == true.shape == (17,)
    # r_t is predicted from s_t, which has seen frames 0..t: a change at frame k moves r_k first.
    # Frame k reaches r_k only through the sample z_k, which the (common-random-number) sampler keeps
    # when an untrained posterior barely moves; over several seeds some sample must change.
    changed = Episode(**{**ep.__dict__, "image": ep.image.copy()})
    changed.image[k] = 255 - changed.image[k]
    moved_any = False
    for seed in range(8):
        before, _ = predicted(ep, seed)
        moved, _ = predicted(changed, seed)
        np.testing.assert_array_equal(moved[:k], before[:k])
        moved_any |= moved[k] != pytest.approx(before[k], abs=1e-6)
    assert moved_any
