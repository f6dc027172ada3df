"""Which losses touch which weights, and the actor's gradient through the dynamics."""

import torch
from helpers.learner import ACTION_DIM, random_batch, tiny_config

from moto_rl.common.networks import RSSMState
from moto_rl.learner.actor_critic import RealTransitions
from moto_rl.learner.imagination import imagine
from moto_rl.learner.learner import Learner, frozen


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    return [k for k, v in module.state_dict().items() if not torch.equal(before[k], v)]


def test_model_update_changes_no_agent_weight():
    cfg = tiny_config()
    learner = Learner(cfg, ACTION_DIM)
    agent_before, wm_before = _snapshot(learner.agent), _snapshot(learner.world_model)
    learner.model_update(random_batch(cfg))
    assert _changed(agent_before, learner.agent) == []
    assert len(_changed(wm_before, learner.world_model)) > 0


def test_agent_update_changes_no_model_weight():
    cfg = tiny_config()
    learner = Learner(cfg, ACTION_DIM)
    batch = random_batch(cfg)
    with torch.no_grad():
        out = learner.world_model.loss(batch)
    wm_before, agent_before = _snapshot(learner.world_model), _snapshot(learner.agent)
    learner.agent_update(out.post, batch)
    assert _changed(wm_before, learner.world_model) == []
    changed = _changed(agent_before, learner.agent)
    assert any(k.startswith("actor.") for k in changed) and any(k.startswith("critics.") for k in changed)
    assert all(p.grad is None for p in learner.world_model.parameters())


def _actor_grad_through_dynamics(action_moves_dynamics: bool) -> float:
    """Actor grad norm when the only path from actions to the loss is the dynamics."""
    cfg = tiny_config("algo.actor_entropy=0.0", "algo.bc_weight=0.0")
    learner = Learner(cfg, ACTION_DIM)
    wm, agent = learner.world_model, learner.agent
    stoch_dim = wm.rssm.stoch_dim
    feat_dim = wm.rssm.feat_dim
    with torch.no_grad():
        # Q(s, a) ignores a: V_0 depends on the action only via s (first layer (members, in, hidden))
        agent.critics.weights[0][:, feat_dim:] = 0.0
        if not action_moves_dynamics:
            wm.rssm.img_in[0].weight[:, stoch_dim:] = 0.0  # h_{t+1} ignores a_t
    batch = random_batch(cfg)
    with torch.no_grad():
        post = wm.loss(batch).post
    b, t = batch.reward.shape
    start = RSSMState(post.deter.reshape(b * t, -1), post.stoch.reshape(b * t, -1))
    real = RealTransitions(post.feat, batch, torch.arange(b * t))
    with frozen(wm, agent.critics):
        traj = imagine(wm, agent.actor, start, cfg.algo.imag_horizon, cfg.algo.uncertainty_weight)
        loss, _ = agent.actor_loss(traj, real)
    loss.backward()
    assert all(p.grad is None for p in wm.parameters())
    assert all(p.grad is None for p in agent.critics.parameters())
    return float(torch.sqrt(sum(p.grad.pow(2).sum() for p in agent.actor.parameters())))


def test_actor_gradient_flows_through_dynamics():
    assert _actor_grad_through_dynamics(True) > 1e-6
    assert _actor_grad_through_dynamics(False) == 0.0
