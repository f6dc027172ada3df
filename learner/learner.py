"""The Learner: one MOTO gradient step (world model, then critic, then actor), weights, checkpoints.

learner = Learner(cfg, action_dim, device="auto")
metrics = learner.train_step(batch)          # dict[str, float]
policy.load_weights(learner.policy_weights())
learner.save(path); learner.load(path)       # exact resume: weights, optimisers, step, RNG states
"""

from __future__ import annotations

import contextlib
import logging
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from moto_rl.common.batch import Batch
from moto_rl.common.config import MotoConfig
from moto_rl.common.errors import UserError
from moto_rl.common.networks import PolicyNet, RSSMState
from moto_rl.learner.actor_critic import ActorCritic, RealTransitions
from moto_rl.learner.allocator import keep_freed_memory
from moto_rl.learner.imagination import imagine, imagine_step
from moto_rl.learner.precision import precision_label, use_bf16
from moto_rl.learner.world_model import WorldModel

CHECKPOINT_FORMAT = 2  # 2: the critics and their targets are one batched module (learner/critics.py)
LEARNER_SPEED = "learner_steps_per_s"  # gradient steps per second: the one name of learner speed (results, TB)


class CheckpointMismatchError(UserError, ValueError):
    """A checkpoint whose parameter shapes do not fit this learner (e.g. another size preset)."""


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """No parameter gradients for ``modules`` inside the block (activations still carry gradient)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _rng_state() -> dict:
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {
            "version": py_state[0],
            "internal": torch.tensor(py_state[1], dtype=torch.int64),
            "gauss": py_state[2],
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Learner:
    def __init__(self, cfg: MotoConfig, action_dim: int, device: str = "cpu"):
        self.cfg, self.action_dim = cfg, action_dim
        self.device = resolve_device(device)
        self.cuda = self.device.type == "cuda"
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        random.seed(cfg.seed)
        if cfg.perf.torch_threads and not self.cuda:
            torch.set_num_threads(cfg.perf.torch_threads)
        if cfg.perf.keep_freed_memory:
            keep_freed_memory()
        # One set of acting modules: the world model and the actor-critic hold references to its parts
        self.policy_net = PolicyNet(cfg.model, action_dim).to(self.device)
        self.world_model = WorldModel(cfg.model, cfg.algo, self.policy_net).to(self.device)
        self.agent = ActorCritic(cfg.model, cfg.algo, self.policy_net).to(self.device)
        perf = cfg.perf
        self.bf16 = use_bf16(perf.amp_bf16, self.device)
        self.precision = precision_label(perf.amp_bf16, self.device)
        logging.getLogger("moto.learner").info("learner on %s, %s", self.device, self.precision)
        if perf.channels_last:
            self.world_model.encoder.to(memory_format=torch.channels_last)
            self.world_model.decoder.to(memory_format=torch.channels_last)
        a = cfg.algo
        fused = {"fused": True} if perf.fused_adam else {}
        self.model_opt = torch.optim.Adam(self.world_model.parameters(), lr=a.model_lr, eps=a.adam_eps, **fused)
        self.actor_opt = torch.optim.Adam(self.agent.actor.parameters(), lr=a.actor_lr, eps=a.adam_eps, **fused)
        self.critic_opt = torch.optim.Adam(self.agent.critics.parameters(), lr=a.critic_lr, eps=a.adam_eps, **fused)
        self._imagine = imagine
        self._imagine_step = imagine_step
        if perf.compile:
            if not self.cuda and not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
                raise UserError(
                    "perf.compile=true on CPU needs a C++ compiler for torch.compile (install g++), "
                    "or set perf.compile=false"
                )
            # the recurrent loops' bodies (filtering cell, imagined step) and the decoder; each is called
            # with the same shapes every step, so they compile once (the first steps are slow)
            rssm = self.world_model.rssm
            rssm.obs_step = torch.compile(rssm.obs_step)  # type: ignore[method-assign]
            decoder = self.world_model.decoder
            decoder._decode = torch.compile(decoder._decode)  # type: ignore[method-assign]
            self._imagine_step = torch.compile(imagine_step)
        self.step = 0

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _starts(self, b: int, t: int) -> torch.Tensor:
        """Flat indices of the rollout starts: all B*T posterior states, or algo.agent_batch random ones."""
        n, k = b * t, self.cfg.algo.agent_batch
        if k and k < n:
            return torch.randperm(n, device=self.device)[:k]
        return torch.arange(n, device=self.device)

    def _opt_step(self, opt: torch.optim.Optimizer, loss: torch.Tensor, params: list[nn.Parameter]) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.algo.grad_clip)
        opt.step()
        return norm

    def train_step(self, batch: Batch) -> dict[str, float]:
        """One gradient step of world model, then critic, then actor. Returns losses, parts and stats."""
        batch = batch.to(self.device)
        post, metrics = self.model_update(batch)
        metrics.update(self.agent_update(post, batch))
        self.step += 1
        names = list(metrics)
        values = torch.stack([metrics[k].detach().float().reshape(()).to(self.device) for k in names]).tolist()
        return dict(zip(names, values, strict=False))

    def model_update(self, batch: Batch) -> tuple[RSSMState, dict[str, torch.Tensor]]:
        """World-model step (ELBO with a random prior member per step). Returns detached posteriors (B, T, ·)."""
        with self._autocast():
            out = self.world_model.loss(batch)
        metrics = dict(out.metrics)
        metrics["model/grad_norm"] = self._opt_step(self.model_opt, out.loss, list(self.world_model.parameters()))
        return out.post.detach(), metrics

    def agent_update(self, post: RSSMState, batch: Batch) -> dict[str, torch.Tensor]:
        """Critic step then actor step on rollouts from the posterior states ``post`` (B, T, ·)."""
        a = self.cfg.algo
        wm, agent = self.world_model, self.agent
        b, t = batch.reward.shape
        post = post.detach()  # no gradient into the model from the agent losses
        idx = self._starts(b, t)
        start = RSSMState(post.deter.reshape(b * t, -1)[idx], post.stoch.reshape(b * t, -1)[idx])
        real = RealTransitions(feat=post.feat.float(), batch=batch, start_index=idx)
        with frozen(wm), self._autocast():
            traj = self._imagine(
                wm,
                agent.actor,
                start,
                a.imag_horizon,
                a.uncertainty_weight,
                a.penalty_reduce,
                a.imag_member,
                self._imagine_step,
                self.cfg.perf.onehot_rows,
            )
            critic_loss, metrics = agent.critic_loss(traj, real)  # L_model (+ L_data)
        metrics["critic/grad_norm"] = self._opt_step(self.critic_opt, critic_loss, list(agent.critics.parameters()))
        # the actor sees the updated critics, frozen, and the frozen dynamics
        with frozen(wm, agent.critics), self._autocast():
            actor_loss, actor_metrics = agent.actor_loss(traj, real)
        metrics.update(actor_metrics)
        metrics["actor/grad_norm"] = self._opt_step(self.actor_opt, actor_loss, list(agent.actor.parameters()))
        agent.update_targets()
        zero = torch.zeros((), device=self.device)
        has = traj.penalty.numel() > 0
        metrics.update(
            {
                "imag/penalty_mean": traj.penalty.mean() if has else zero,
                "imag/penalty_max": traj.penalty.max() if has else zero,
                "imag/reward_mean": traj.reward.mean() if has else zero,
                "imag/penalised_reward_mean": traj.penalised_reward.mean() if has else zero,
                "imag/starts": torch.tensor(float(idx.numel()), device=self.device),
            }
        )
        return metrics

    # -- weights and checkpoints ---------------------------------------------------------------------
    def policy_weights(self) -> dict[str, torch.Tensor]:
        """``self.policy_net.state_dict()`` as contiguous CPU copies: keys ``encoder.*``, ``rssm.*``,
        ``actor.*`` (the one weight format; ``moto_rl.common.policy.Policy.load_weights`` loads it as is)."""
        # copies: the driver ships them through Ray while training keeps changing the originals;
        # contiguous: channels_last conv weights arrive in the default layout
        return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in self.policy_net.state_dict().items()}

    def state_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "size": self.cfg.size,
            "action_dim": self.action_dim,
            "step": self.step,
            "world_model": self.world_model.state_dict(),
            "agent": self.agent.state_dict(),
            "model_opt": self.model_opt.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "rng": _rng_state(),
        }

    def save(self, path: str | Path) -> None:
        """Write one checkpoint atomically (a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state_dict(), tmp)
        tmp.replace(path)

    def _check_shapes(self, ckpt: dict, path: str | Path) -> None:
        problems: list[str] = []
        absent: list[str] = []
        for key, module in (("world_model", self.world_model), ("agent", self.agent)):
            mine = {k: tuple(v.shape) for k, v in module.state_dict().items()}
            theirs = {k: tuple(v.shape) for k, v in ckpt[key].items()}
            for name in sorted(set(mine) | set(theirs)):
                if name not in theirs:
                    absent.append(f"{key}.{name}: missing in checkpoint (this model {mine[name]})")
                elif name not in mine:
                    absent.append(f"{key}.{name}: not in this model (checkpoint {theirs[name]})")
                elif mine[name] != theirs[name]:
                    problems.append(f"{key}.{name}: checkpoint {theirs[name]} vs this model {mine[name]}")
        problems += absent  # shape differences first: they say most about what changed
        if problems:
            shown = "\n  ".join(problems[:25]) + (
                f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
            )
            raise CheckpointMismatchError(
                f"checkpoint {path} (size={ckpt.get('size')}, action_dim={ckpt.get('action_dim')}) does not fit this "
                f"learner (size={self.cfg.size}, action_dim={self.action_dim}); "
                f"{len(problems)} parameter(s) differ:\n  {shown}\n{self._mismatch_fix(ckpt)}"
            )

    def _mismatch_fix(self, ckpt: dict) -> str:
        theirs = ckpt.get("action_dim")
        if theirs is not None and theirs != self.action_dim:
            return (
                f"Its policy acts in {theirs} dimensions, this task's in {self.action_dim}: use it on a task of "
                f"the same suite (MetaWorld tasks take 4, Franka Kitchen tasks 9; `moto envs` lists them)."
            )
        return "Load it with the same size preset and ablation it was trained with."

    def load(self, path: str | Path, weights_only: bool = False) -> int:
        """Restore a checkpoint written by ``save`` (weights, targets, optimisers, step, RNG states); returns
        its step. ``weights_only``: the networks alone (fine-tuning from it: fresh optimisers, step 0)."""
        try:
            ckpt = torch.load(path, map_location=self.device, weights_only=True)
        except FileNotFoundError:
            raise CheckpointMismatchError(f"no checkpoint at {path}") from None
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointMismatchError(
                f"{path}: checkpoint format {ckpt.get('format')}, this learner reads format {CHECKPOINT_FORMAT} "
                f"(format 1 stored the twin critics as two modules); retrain, or load it with the moto version "
                f"that wrote it"
            )
        self._check_shapes(ckpt, path)
        self.world_model.load_state_dict(ckpt["world_model"])
        self.agent.load_state_dict(ckpt["agent"])
        if weights_only:
            return int(ckpt["step"])
        self.model_opt.load_state_dict(ckpt["model_opt"])
        self.actor_opt.load_state_dict(ckpt["actor_opt"])
        self.critic_opt.load_state_dict(ckpt["critic_opt"])
        self.step = int(ckpt["step"])
        rng = ckpt["rng"]
        rng["torch"] = rng["torch"].cpu()
        if "cuda" in rng:
            rng["cuda"] = [s.cpu() for s in rng["cuda"]]
        _set_rng_state(rng)
        return self.step
