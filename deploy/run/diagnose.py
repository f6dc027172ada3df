"""``moto diagnose RUN [--json]``: why a run succeeds or not, read off its own latest checkpoint and store.

- data: offline (demo) episodes and how many succeeded (the behaviour prior learns from those only);
  online episodes and how many succeeded (the critic sees a success reward only in those and the demos).
- reward: does the reward head track the true reward along the demos? MSE of the predicted rewards over
  the MSE of a constant prediction (the demos' mean reward): well under 1 tracks, about 1 does not. On
  the online episodes, the largest reward the model predicts: near 0 where no online episode succeeded
  means imagination holds no reward for the actor to reach.
- open loop: mean absolute pixel error (0-255) of the model's frames on the first demo, while it sees
  the frames (posterior, 5 steps) and then imagining under the recorded actions (prior, 45 steps).
- policy: mean log-likelihood of the demos' actions given the demo state, and given another step's state
  (same actions shuffled over steps): their difference is what the policy imitates of the expert.

Writes ``diagnosis.json`` into the run directory (a campaign exports it with the run's small files).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from moto_rl.common.config_loading import load_config_file
from moto_rl.common.episode import EpisodeMeta
from moto_rl.common.errors import UserError
from moto_rl.deploy.run.run_dir import RunDirectory
from moto_rl.storage import TrajectoryStore

DIAGNOSIS_FILE = "diagnosis.json"
MAX_EPISODES = 10  # demos and online episodes looked at (the latest online ones)


def _open_loop_error(wm, episode, context: int = 5) -> tuple[float, float]:
    from moto_rl.learner.diagnostics import open_loop_prediction

    video = open_loop_prediction(wm, episode, context=context)  # (T, H, 3W, 3): truth | model | error
    error = video[:, :, 2 * video.shape[2] // 3 :].astype(np.float32)
    return float(error[:context].mean()), float(error[context:].mean())


def episode_outcomes(metas: list[EpisodeMeta]) -> dict:
    """Offline (demo) and online episodes among ``metas`` (a store's) and how many of each succeeded."""
    offline = [m for m in metas if m.source == "offline"]
    online = [m for m in metas if m.source != "offline"]
    return {
        "demo_episodes": len(offline),
        "demo_successes": sum(bool(m.success) for m in offline),
        "online_episodes": len(online),
        "online_successes": sum(bool(m.success) for m in online),
    }


def diagnose(run_path: str | Path) -> dict:
    """The figures of the module docstring for the run at ``run_path``; also written to diagnosis.json."""
    import torch

    from moto_rl.common.tasks import task_spec
    from moto_rl.deploy.run.checkpoints import load_policy_learner, resolve_checkpoint
    from moto_rl.learner.diagnostics import expert_log_likelihoods, reward_mse_ratio, reward_prediction

    run, cfg = RunDirectory.open(run_path)
    source = resolve_checkpoint(run.path)
    file_cfg = load_config_file(source.config)
    learner, step = load_policy_learner(source, file_cfg, task_spec(cfg.env.task).action_dim)
    learner.world_model.eval()
    try:
        store = TrajectoryStore.open(run.store_url(cfg), create=False)
    except Exception as e:
        raise UserError(f"{run.path}: cannot open the run's store ({e}); diagnose needs it") from None
    metas = {eid: store.meta(eid) for eid in store.episode_ids()}
    demos = [store.read(eid) for eid, m in metas.items() if m.source == "offline"][:MAX_EPISODES]
    online = [store.read(eid) for eid in [e for e, m in metas.items() if m.source != "offline"][-MAX_EPISODES:]]
    torch.manual_seed(0)  # the posterior samples its latents: fixed noise, repeatable figures
    result: dict = {"run": run.path.name, "checkpoint_step": step, **episode_outcomes(list(metas.values()))}
    with torch.no_grad():
        if demos:
            mean_reward = float(np.mean(np.concatenate([e.reward[1:] for e in demos])))
            result["demo_reward_mse_ratio"] = reward_mse_ratio(learner.world_model, demos, mean_reward)
            context, imagined = _open_loop_error(learner.world_model, demos[0])
            result["open_loop_error_context"], result["open_loop_error_imagined"] = context, imagined
        if online:
            predicted = [reward_prediction(learner.world_model, ep)[0] for ep in online]
            result["online_max_predicted_reward"] = float(max(p.max() for p in predicted))
            result["online_max_true_reward"] = float(max(ep.reward.max() for ep in online))
    if demos:
        own, other = expert_log_likelihoods(learner.world_model, learner.agent.actor, demos)
        result["demo_action_loglik"], result["demo_action_loglik_other_state"] = own, other
    (run.path / DIAGNOSIS_FILE).write_text(json.dumps(result, indent=2) + "\n")
    return result


def format_diagnosis(d: dict) -> str:
    def num(key: str, fmt: str = ".3f") -> str:
        value = d.get(key)
        return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:{fmt}}"

    rows = [
        ("checkpoint", f"step {d['checkpoint_step']}"),
        ("demos", f"{d['demo_successes']}/{d['demo_episodes']} succeeded"),
        ("online episodes", f"{d['online_successes']}/{d['online_episodes']} succeeded"),
        ("reward on demos", f"MSE / constant's MSE {num('demo_reward_mse_ratio')}  (< 1: tracks the reward)"),
        (
            "reward online",
            f"largest predicted {num('online_max_predicted_reward')}, largest true {num('online_max_true_reward')}",
        ),
        (
            "open loop",
            f"pixel error {num('open_loop_error_context', '.1f')} seeing frames, "
            f"{num('open_loop_error_imagined', '.1f')} imagining (0-255)",
        ),
        (
            "expert actions",
            f"log-lik {num('demo_action_loglik', '.2f')} given the state, "
            f"{num('demo_action_loglik_other_state', '.2f')} given another step's",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    return f"diagnosis of {d['run']}\n" + "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def main(args: argparse.Namespace) -> int:
    result = diagnose(args.run)
    print(json.dumps(result) if args.json else format_diagnosis(result))
    return 0
