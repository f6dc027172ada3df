"""What a finished run shows a person: the success curve (PNG) and a one-screen summary."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on workers, CI or clusters
import matplotlib.pyplot as plt  # noqa: E402

from common.config import MotoConfig  # noqa: E402


def plot_success_curve(evals: list[dict], cfg: MotoConfig, path: Path) -> None:
    """Success rate and return vs environment steps; x = 0 is the end of offline pre-training."""
    fig, (ax_s, ax_r) = plt.subplots(1, 2, figsize=(10, 3.8))
    steps = [e["env_steps"] for e in evals]
    ax_s.plot(steps, [100 * e["success_rate"] for e in evals], marker="o", color="tab:blue")
    ax_s.set_ylim(-5, 105)
    ax_s.set_ylabel("evaluation success (%)")
    ax_r.plot(steps, [e["mean_return"] for e in evals], marker="o", color="tab:green")
    ax_r.set_ylabel("evaluation return")
    for ax in (ax_s, ax_r):
        ax.set_xlabel("online environment steps (agent steps)")
        ax.grid(alpha=0.3)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax_s.annotate("after offline\npre-training", (0, 95), fontsize=8, color="grey", xytext=(4, 0), textcoords="offset points", va="top")
    fig.suptitle(f"MOTO {cfg.ablation} on {cfg.env.task} (size {cfg.size}, seed {cfg.seed})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_text(cfg: MotoConfig, state: dict, run_path: Path, seconds: float, extra: dict) -> str:
    evals = state["evals"]
    first = evals[0]["success_rate"] if evals else float("nan")
    last = evals[-1]["success_rate"] if evals else float("nan")
    best = max((e["success_rate"] for e in evals), default=float("nan"))
    rows = [
        ("task", f"{cfg.env.task}  (ablation {cfg.ablation}, size {cfg.size}, seed {cfg.seed})"),
        ("wall time", f"{seconds / 60:.1f} min"),
        ("learner steps", f"{state['offline_done']} offline + {state['online_done']} online"),
        ("online episodes", f"{state['episodes']}  ({state['env_steps']} agent steps)"),
        ("success after offline", f"{100 * first:.0f}%"),
        ("final success", f"{100 * last:.0f}%   (best {100 * best:.0f}%, {len(evals)} evaluations)"),
    ]
    rows += [(k, v) for k, v in extra.items()]
    rows += [
        ("curve", str(run_path / "success_curve.png")),
        ("tensorboard", f"tensorboard --logdir {run_path / 'tb'}"),
        ("resume / extend", f"moto train --resume {run_path}"),
    ]
    width = max(len(k) for k, _ in rows)
    body = "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)
    return f"MOTO run summary: {run_path}\n{body}\n"
