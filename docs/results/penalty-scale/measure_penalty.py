"""The uncertainty penalty's scale, measured (docs/results/penalty-scale/README.md).

At initialisation and at points during offline pre-training on a task's scripted demos, on all of the
demos' posterior states (one CPU thread, fp32, no Ray):

- epsilon_u_expert: epsilon_u as ``learner.diagnostics.epsilon_u`` computes it (model rollouts along the
  expert's recorded actions from every expert posterior state, horizon algo.imag_horizon);
- u_imagined, reward_imagined, penalised_reward: the means of ``penalty``, ``reward`` and
  ``penalised_reward`` (= r - alpha u) of one ``imagine(...)`` rollout of the current actor from every
  expert posterior state (the learner's own horizon, member choice and alpha);
- u_random_actions: the same rollout with uniform random actions in [-1, 1] (a control: states the
  expert never visits);
- ratio = u_imagined / epsilon_u_expert;
- epsilon_u_centred, u_imagined_centred: the same two with each member's logits centred over the C classes
  of each latent first (l - mean_c l). A member's softmax, so the model's loss, ignores a constant added
  to a latent's C logits; raw-logit std counts members' differing constants as disagreement.

Usage (from the repo root), one (size, task) per call, rows appended to --out:

    .venv/bin/python docs/results/penalty-scale/measure_penalty.py --size tiny --task metaworld/drawer-open \\
        --demos /work/diag/penalty/demos --steps 1000 --measure-at 250,500 --out penalty.csv

``--minutes M`` stops training after M minutes of training wall time (measurements not counted) even
before --steps; the last row says how many steps were done. Extra ``key=value`` arguments are config
overrides. The demos store is ``<demos>/<task with / as ->``, as ``ensure_demos`` (deploy/) makes it.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import torch

sys.path.insert(0, os.getcwd())  # the repo root (run from there): moto_rl finds its folders there uninstalled

from moto_rl.common.config_loading import load_config
from moto_rl.common.networks import RSSMState
from moto_rl.learner import diagnostics
from moto_rl.learner.diagnostics import epsilon_u, posterior
from moto_rl.learner.imagination import imagine, uncertainty_penalty
from moto_rl.learner.learner import Learner
from moto_rl.storage import Sampler, TrajectoryStore

COLUMNS = [
    "size",
    "task",
    "steps",
    "point",
    "epsilon_u_expert",
    "u_imagined",
    "reward_imagined",
    "penalised_reward",
    "ratio",
    "alpha_u_imagined",
    "sign",
    "u_random_actions",
    "reward_expert_head",
    "reward_expert_true",
    "epsilon_u_centred",
    "u_imagined_centred",
    "s_per_step",
]


class RandomActor(torch.nn.Module):
    """Uniform random actions in [-1, 1], shaped like the actor's (``imagine`` only calls ``actor(feat)``)."""

    def __init__(self, action_dim: int):
        super().__init__()
        self.action_dim = action_dim

    def forward(self, feat):
        low = -torch.ones(feat.shape[0], self.action_dim)
        return torch.distributions.Uniform(low, -low)


def centred_penalty(logits: torch.Tensor, reduce: str = "mean") -> torch.Tensor:
    """u on logits centred over classes: blind to a per-member constant that no member's softmax sees."""
    return uncertainty_penalty(logits - logits.mean(-1, keepdim=True), reduce)


@torch.no_grad()
def measure(learner: Learner, episodes) -> dict[str, float]:
    a, wm = learner.cfg.algo, learner.world_model
    wm.eval()
    try:
        with torch.random.fork_rng():  # the same draws at every point, and training's RNG untouched
            torch.manual_seed(0)
            eps = epsilon_u(wm, episodes, a.imag_horizon, a.penalty_reduce)
            posts = [posterior(wm, ep)[0] for ep in episodes]
            start = RSSMState(torch.cat([p.deter for p in posts]), torch.cat([p.stoch for p in posts]))
            rows = dict(reward_expert_head=float(wm.reward(start.feat).mean()))
            traj = imagine(
                wm,
                learner.agent.actor,
                start,
                a.imag_horizon,
                a.uncertainty_weight,
                a.penalty_reduce,
                a.imag_member,
                onehot_rows=False,
            )
            rand = imagine(
                wm,
                RandomActor(learner.action_dim),
                start,
                a.imag_horizon,
                a.uncertainty_weight,
                a.penalty_reduce,
                a.imag_member,
                onehot_rows=False,
            )
            # the imagined states' priors again (h_{t+1} is the first D features of s_{t+1}), centred
            deter = traj.feat[1:, :, : wm.rssm.deter_dim].flatten(0, 1)
            rows["u_imagined_centred"] = float(centred_penalty(wm.rssm.prior_logits(deter), a.penalty_reduce).mean())
            torch.manual_seed(0)  # epsilon_u's draws again, with the centred u
            diagnostics.uncertainty_penalty = centred_penalty
            try:
                rows["epsilon_u_centred"] = epsilon_u(wm, episodes, a.imag_horizon, a.penalty_reduce)
            finally:
                diagnostics.uncertainty_penalty = uncertainty_penalty
    finally:
        wm.train()
    u = float(traj.penalty.mean())
    rows.update(
        epsilon_u_expert=eps,
        u_imagined=u,
        reward_imagined=float(traj.reward.mean()),
        penalised_reward=float(traj.penalised_reward.mean()),
        ratio=u / eps if eps else float("nan"),
        alpha_u_imagined=a.uncertainty_weight * u,
        u_random_actions=float(rand.penalty.mean()),
    )
    rows["sign"] = "-" if rows["penalised_reward"] < 0 else "+"
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--demos", required=True, help="root of the demos stores")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--minutes", type=float, default=0.0, help="training wall-time cap (0 = none)")
    p.add_argument("--measure-at", default="", help="comma-separated steps to measure at besides 0 and the end")
    p.add_argument("--out", required=True)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    cfg = load_config(
        [
            f"size={args.size}",
            f"task={args.task}",
            "perf.amp_bf16=false",
            "perf.torch_threads=1",
            "perf.offline_torch_threads=1",
            "device=cpu",
            *args.overrides,
        ]
    )
    store = TrajectoryStore.open(f"{args.demos.rstrip('/')}/{args.task.replace('/', '-')}", create=False)
    episodes = [store.read(eid) for eid in store.episode_ids() if store.meta(eid).task == args.task]
    true_reward = float(sum(e.reward[1:].sum() for e in episodes) / sum(len(e.reward) - 1 for e in episodes))
    learner = Learner(cfg, int(episodes[0].action.shape[-1]), device="cpu")
    points = {int(s) for s in args.measure_at.split(",") if s}
    new = not os.path.exists(args.out)
    with (
        open(args.out, "a", newline="") as f,
        Sampler(store, cfg.algo.batch_size, cfg.algo.seq_len, prefetch=0, refresh_seconds=0, seed=cfg.seed) as sampler,
    ):
        out = csv.DictWriter(f, COLUMNS)
        if new:
            out.writeheader()

        def record(point: str, train_s: float) -> None:
            row = dict(
                size=args.size,
                task=args.task,
                steps=learner.step,
                point=point,
                reward_expert_true=true_reward,
                s_per_step=train_s / max(learner.step, 1),
                **measure(learner, episodes),
            )
            out.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()})
            f.flush()
            print(
                ", ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in COLUMNS),
                flush=True,
            )

        record("init", 0.0)
        train_s = 0.0
        while learner.step < args.steps and not (args.minutes and train_s > 60 * args.minutes):
            t0 = time.perf_counter()
            learner.train_step(sampler.sample())
            train_s += time.perf_counter() - t0
            if learner.step in points and learner.step < args.steps:
                record("pretrained", train_s)
        if learner.step not in points or learner.step == args.steps:
            record("pretrained", train_s)


if __name__ == "__main__":
    main()
