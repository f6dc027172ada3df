"""One set of acting modules: the learner's PolicyNet is what the world model, the actor-critic, the
optimisers and the workers all see (docs/architecture.md, "One weight update")."""

import numpy as np
import torch
from helpers.learner import ACTION_DIM, random_batch, tiny_config

from moto_rl.common.networks import RSSMState
from moto_rl.common.policy import Policy
from moto_rl.learner.learner import Learner


def _ids(params) -> list[int]:
    return [id(p) for p in params]


def _opt_ids(opt: torch.optim.Optimizer) -> list[int]:
    return [id(p) for group in opt.param_groups for p in group["params"]]


def test_world_model_and_agent_use_the_policy_modules_themselves():
    learner = Learner(tiny_config(), ACTION_DIM)
    net = learner.policy_net
    assert learner.world_model.encoder is net.encoder and learner.world_model.rssm is net.rssm
    assert learner.agent.actor is net.actor
    # a gradient step through the world model and the agent changes what policy_weights() ships
    before = learner.policy_weights()
    learner.train_step(random_batch(tiny_config()))
    after = learner.policy_weights()
    for prefix in ("encoder.", "rssm.", "actor."):
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)), prefix


def test_optimisers_see_each_parameter_once_in_the_right_group():
    learner = Learner(tiny_config(), ACTION_DIM)
    net, wm, agent = learner.policy_net, learner.world_model, learner.agent
    model, actor, critic = (_opt_ids(o) for o in (learner.model_opt, learner.actor_opt, learner.critic_opt))
    for ids in (model, actor, critic):
        assert len(ids) == len(set(ids))  # no parameter twice within one optimiser
    model, actor, critic = set(model), set(actor), set(critic)
    assert not (model & actor) and not (model & critic) and not (actor & critic)
    heads = [wm.decoder, wm.reward_head] + ([wm.cont_head] if wm.cont_head is not None else [])
    assert model == set(_ids(net.encoder.parameters())) | set(_ids(net.rssm.parameters())) | {
        id(p) for m in heads for p in m.parameters()
    }
    assert actor == set(_ids(net.actor.parameters()))
    assert critic == set(_ids(agent.critics.parameters()))
    assert set(_ids(net.parameters())) <= model | actor  # every acting parameter is trained


def test_policy_weights_are_the_policy_state_dict_and_keep_the_checkpoint_keys():
    learner = Learner(tiny_config(), ACTION_DIM)
    weights = learner.policy_weights()
    own = learner.policy_net.state_dict()
    assert list(weights) == list(own)
    assert all(v.device.type == "cpu" and torch.equal(v, own[k]) for k, v in weights.items())
    assert all(v.data_ptr() != own[k].data_ptr() for k, v in weights.items())  # copies, not views
    assert {k.split(".")[0] for k in weights} == {"encoder", "rssm", "actor"}
    # learner.pt (format 2) keeps its keys: world_model.encoder.*, world_model.rssm.*, agent.actor.*
    ckpt = learner.state_dict()
    for k in weights:
        assert k in (ckpt["agent"] if k.startswith("actor.") else ckpt["world_model"]), k
    assert not any(k.startswith("actor.") for k in ckpt["world_model"])


def test_worker_policy_from_policy_weights_acts_like_the_learner():
    """Deterministic actions of a CPU Policy loaded from policy_weights() equal the learner's own
    encoder -> RSSM filter -> actor mode on the same two frames (the RSSM posterior sample shares a seed)."""
    cfg = tiny_config()
    learner = Learner(cfg, ACTION_DIM)
    learner.train_step(random_batch(cfg, seed=3))
    policy = Policy(cfg.model, ACTION_DIM)  # its own random init until the weights arrive
    policy.load_weights(learner.policy_weights())
    frames = np.random.default_rng(0).integers(0, 256, (2, 2, 64, 64, 3), dtype=np.uint8)  # (T, N, H, W, 3)

    torch.manual_seed(7)
    state, acted = policy.initial_state(2), []
    for t in range(2):
        action, state = policy.act(frames[t], np.array([t == 0] * 2), state, deterministic=True)
        acted.append(action)

    torch.manual_seed(7)
    wm, actor = learner.world_model, learner.agent.actor
    with torch.no_grad():
        embed = wm.embed(torch.from_numpy(frames).transpose(0, 1))  # (N, T, E)
        prev = torch.zeros(2, ACTION_DIM)
        s = wm.rssm.initial(2)
        for t in range(2):
            s, _ = wm.rssm.obs_step(RSSMState(s.deter, s.stoch), prev, embed[:, t], torch.tensor([t == 0] * 2))
            prev = actor(s.feat).mode
            np.testing.assert_allclose(acted[t], prev.numpy(), rtol=1e-5, atol=1e-6)
    torch.manual_seed(7)
    unloaded, _ = Policy(cfg.model, ACTION_DIM).act(frames[0], np.ones(2, bool), policy.initial_state(2), True)
    assert not np.allclose(unloaded, acted[0], atol=1e-3)  # the match comes from the loaded weights
