"""What a finished run shows a person: the success curve (PNG) and a one-screen summary."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # headless: no display on workers, CI or clusters
import matplotlib.pyplot as plt  # noqa: E402

from moto_rl.common.config import MotoConfig  # noqa: E402


def rolling_mean(values: list[float], window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start)."""
    v = np.asarray(values, dtype=float)
    sums = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (sums[idx] - sums[lo]) / (idx - lo)


def plot_success_curve(
    evals: list[dict], episodes: list[list[float]], cfg: MotoConfig, path: Path, window: int = 10
) -> None:
    """Evaluation success and return vs environment steps (markers), with the online training episodes
    as a rolling mean (thin line); x = 0 is the end of offline pre-training."""
    fig, (ax_s, ax_r) = plt.subplots(1, 2, figsize=(10, 3.8))
    steps = [e["env_steps"] for e in evals]
    ax_s.plot(
        steps,
        [100 * e["success_rate"] for e in evals],
        marker="o",
        color="tab:blue",
        label="evaluation (deterministic)",
    )
    ax_r.plot(
        steps, [e["mean_return"] for e in evals], marker="o", color="tab:green", label="evaluation (deterministic)"
    )
    if episodes:
        x = [e[0] for e in episodes]
        ax_s.plot(
            x,
            100 * rolling_mean([e[1] for e in episodes], window),
            color="tab:blue",
            alpha=0.45,
            lw=1,
            label=f"online episodes (mean of {window})",
        )
        ax_r.plot(
            x,
            rolling_mean([e[2] for e in episodes], window),
            color="tab:green",
            alpha=0.45,
            lw=1,
            label=f"online episodes (mean of {window})",
        )
    ax_s.set_ylim(-5, 105)
    ax_s.set_ylabel("success (%)")
    ax_r.set_ylabel("return")
    for ax in (ax_s, ax_r):
        ax.set_xlabel("online environment steps (agent steps)")
        ax.grid(alpha=0.3)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"MOTO {cfg.ablation} on {cfg.env.task} (size {cfg.size}, seed {cfg.seed}); x = 0: end of offline pre-training",
        fontsize=10,
    )
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
        ("wall time", f"{seconds / 60:.1f} min  (summed over resumes; work lost to a kill not counted)"),
        ("learner steps", f"{state['offline_done']} offline + {state['online_done']} online"),
        ("online episodes", f"{state['episodes']}  ({state['env_steps']} agent steps)"),
        ("success after offline", f"{100 * first:.0f}%"),
        ("final success", f"{100 * last:.0f}%   (best {100 * best:.0f}%, {len(evals)} evaluations)"),
    ]
    rows += [(k, v) for k, v in extra.items()]
    rows += [
        ("curve", str(run_path / "success_curve.png")),
        ("tensorboard", f"tensorboard --logdir {run_path / 'tb'}"),
        ("resume", f"moto train --resume {run_path}"),
    ]
    width = max(len(k) for k, _ in rows)
    body = "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)
    return f"MOTO run summary: {run_path}\n{body}\n"
