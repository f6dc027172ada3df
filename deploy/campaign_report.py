"""``moto report CAMPAIGN_DIR``: the paper's plots and table for a campaign, as PNGs and report.md.

- success_curves.png  success vs env steps per task, mean and 95% bootstrap interval over seeds (Fig. 2/3)
- final_success.png   final success per task and method, with the paper's numbers where it gives them
- ablations.png       final success per ablation over all tasks and seeds (Fig. 5)
- uncertainty_gap.png epsilon_u on expert episodes vs the performance gap, one point per run (Fig. 6)
- report.md           the table and the figures

"Final success" is a run's last evaluation. Unfinished runs are drawn up to where they got and
flagged in the table.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.errors import UserError  # noqa: E402
from deploy.campaign_results import (  # noqa: E402
    ABLATION_ORDER,
    PAPER,
    PAPER_METAWORLD_NOTE,
    RunResult,
    bootstrap_mean,
    curve_on_grid,
    group,
    method_order,
    read_campaign,
)

COLORS = plt.get_cmap("tab10")


def _color(methods: list[str], method: str):
    return COLORS(methods.index(method) % 10)


def plot_success_curves(results: list[RunResult], path: Path) -> list[str]:
    """Draws the figure; returns the methods its legend names."""
    groups = group(results)
    tasks = sorted({t for t, _ in groups})
    methods = method_order({m for _, m in groups})
    cols = min(len(tasks), 5)
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows + 0.8), squeeze=False, sharey=True)
    for ax, task in zip(axes.flat, tasks, strict=False):
        for method in methods:
            runs = groups.get((task, method))
            if not runs:
                continue
            grid, ys = curve_on_grid(runs)
            mean, low, high = bootstrap_mean(100 * ys)
            color = _color(methods, method)
            ax.plot(grid, mean, color=color, lw=1.8, label=method)
            ax.fill_between(grid, low, high, color=color, alpha=0.2, lw=0)
        ax.set_title(f"{task}  (n={max(len(groups.get((task, m), [])) for m in methods)} seeds)", fontsize=9)
        ax.set_ylim(-5, 105)
        ax.grid(alpha=0.3)
        ax.set_xlabel("online env steps", fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("success (%)")
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    legend: dict = {}  # every method once, whichever panel draws it (a task may lack some methods)
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    labels = [m for m in methods if m in legend]
    handles = [legend[m] for m in labels]
    height = fig.get_figheight()  # legend below, title above: 0.4 inch each
    fig.legend(handles, labels, loc="lower center", ncol=len(methods), frameon=False, fontsize=9)
    fig.suptitle("evaluation success: mean over seeds, 95% bootstrap interval", fontsize=10)
    fig.tight_layout(rect=(0, 0.4 / height, 1, 1 - 0.35 / height))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return labels


def final_table(results: list[RunResult]) -> list[dict]:
    rows = []
    groups = group(results)
    order = method_order({m for _, m in groups})
    for (task, method), runs in sorted(groups.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        finals = np.array([100 * r.final_success for r in runs])
        mean, low, high = bootstrap_mean(finals)
        rows.append({
            "task": task, "method": method, "seeds": len(runs), "unfinished": sum(not r.finished for r in runs),
            "mean": float(mean), "low": float(low), "high": float(high), "finals": finals.tolist(),
            "paper": PAPER.get(task, {}).get(method.split(" ")[0]),
        })
    return rows


def plot_final_success(rows: list[dict], path: Path) -> None:
    tasks = sorted({r["task"] for r in rows})
    methods = method_order({r["method"] for r in rows})
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(tasks) * max(1, len(methods)) ** 0.5 + 2), 3.8))
    for j, method in enumerate(methods):
        color = _color(methods, method)
        for i, task in enumerate(tasks):
            row = next((r for r in rows if r["task"] == task and r["method"] == method), None)
            if row is None:
                continue
            x = i + (j - (len(methods) - 1) / 2) * width
            ax.bar(x, row["mean"], width * 0.9, color=color, alpha=0.75, label=method if i == 0 else None)
            ax.errorbar(
                x,
                row["mean"],
                yerr=[[row["mean"] - row["low"]], [row["high"] - row["mean"]]],
                color="black",
                capsize=2,
                lw=1,
            )
            ax.scatter([x] * len(row["finals"]), row["finals"], s=9, color="black", zorder=3)
            if row["paper"] is not None:
                ax.scatter([x], [row["paper"]], marker="*", s=110, color="gold", edgecolor="black", zorder=4,
                           label="paper" if "paper" not in ax.get_legend_handles_labels()[1] else None)
    ax.set_xticks(
        range(len(tasks)),
        tasks,
        rotation=30 if len(tasks) > 4 else 0,
        ha="right" if len(tasks) > 4 else "center",
        fontsize=8,
    )
    ax.set_ylim(0, 108)
    ax.set_ylabel("final success (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        fontsize=8,
        ncol=min(len(methods) + 1, 6),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22 if len(tasks) > 4 else -0.1),
        frameon=False,
    )
    ax.set_title("final success per task: mean, 95% bootstrap interval, seeds as dots", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def ablation_tasks(results: list[RunResult]) -> list[str]:
    """The tasks that ran every compared method: a method's bar over other tasks than the rest's would
    compare tasks, not methods (a study may run full MOTO on ten tasks and the ablations on three)."""
    by_task: dict[str, set[str]] = {}
    for r in results:
        if r.evals:
            by_task.setdefault(r.task, set()).add(r.method.split(" ")[0])
    compared = set().union(*(m for m in by_task.values() if len(m) > 1)) if by_task else set()
    return sorted(t for t, m in by_task.items() if compared and m >= compared)


def plot_ablations(results: list[RunResult], path: Path) -> list[str]:
    """Final success per method over the tasks that ran them all; returns those tasks."""
    tasks = ablation_tasks(results)
    runs = [r for r in results if r.evals and r.task in tasks]
    ablations = [a for a in ABLATION_ORDER if any(r.method.split(" ")[0] == a for r in runs)]
    fig, ax = plt.subplots(figsize=(1.3 * len(ablations) + 2.5, 3.8))
    rng = np.random.default_rng(0)  # jitter only
    for i, ablation in enumerate(ablations):
        mine = [r for r in runs if r.method.split(" ")[0] == ablation]
        finals = np.array([100 * r.final_success for r in mine])
        mean, low, high = bootstrap_mean(finals)
        ax.bar(i, mean, 0.6, color="tab:blue" if ablation == "full" else "tab:gray", alpha=0.7)
        ax.errorbar(i, mean, yerr=[[mean - low], [high - mean]], color="black", capsize=4, lw=1.2)
        for r in mine:
            ax.scatter(i + rng.uniform(-0.18, 0.18), 100 * r.final_success, s=14, zorder=3,
                       color=COLORS(tasks.index(r.task) % 10), edgecolor="black", linewidth=0.3)
    for k, task in enumerate(tasks):
        ax.scatter([], [], s=14, color=COLORS(k % 10), label=task)
    ax.set_xticks(range(len(ablations)), ablations)
    ax.set_ylim(0, 108)
    ax.set_ylabel("final success (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        fontsize=8,
        title="task (dots = runs)",
        title_fontsize=8,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        frameon=False,
    )
    ax.set_title(f"ablations: final success over {len(tasks)} task(s) and seeds, 95% bootstrap interval", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return tasks


def plot_uncertainty_gap(results: list[RunResult], path: Path) -> str:
    """Paper Fig. 6; returns a one-line description (with the rank correlation) for the report."""
    points = [r for r in results if r.evals and math.isfinite(r.epsilon_u)]
    tasks = sorted({r.task for r in points})
    methods = method_order({r.method for r in points})
    markers = "osD^vP*X"
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for r in points:
        ax.scatter(r.epsilon_u, 100 * (1 - r.final_success), s=30, color=COLORS(tasks.index(r.task) % 10),
                   marker=markers[methods.index(r.method) % len(markers)], edgecolor="black", linewidth=0.4)
    for k, task in enumerate(tasks):
        ax.scatter([], [], color=COLORS(k % 10), label=task)
    for k, method in enumerate(methods):
        ax.scatter([], [], color="white", edgecolor="black", marker=markers[k % len(markers)], label=method)
    if len(points) >= 3:
        eps = np.array([r.epsilon_u for r in points])
        gap = np.array([1 - r.final_success for r in points])
        rho = float(np.corrcoef(np.argsort(np.argsort(eps)), np.argsort(np.argsort(gap)))[0, 1])
        note = f"Spearman rank correlation {rho:+.2f} over {len(points)} runs"
    else:
        note = f"{len(points)} run(s) with epsilon_u recorded: too few for a correlation"
    if not points:
        ax.text(
            0.5,
            0.5,
            "no epsilon_u recorded\n(logging.diagnostics_every > the run's learner steps)",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlabel("epsilon_u on expert episodes (model uncertainty, Eq. 12)")
    ax.set_ylabel("performance gap: 100 - final success (%)")
    ax.set_ylim(-5, 105)
    ax.grid(alpha=0.3)
    if points:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title(f"uncertainty vs performance gap (paper Fig. 6)\n{note}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return note


def markdown(campaign_dir: Path, results: list[RunResult], rows: list[dict], gap_note: str, figures: list[str]) -> str:
    finished = sum(r.finished for r in results)
    lines = [
        f"# Campaign report: {campaign_dir.name}", "",
        f"{len(results)} runs, {finished} finished. Final success = a run's last evaluation; intervals are 95% "
        f"percentile bootstraps over seeds (2,000 resamples, seeded).", "",
        "| task | method | seeds | final success (%) | 95% interval | per seed | paper |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        flag = f" ({r['unfinished']} unfinished)" if r["unfinished"] else ""
        paper = (
            f"{r['paper']:g}" if r["paper"] is not None else ("see note" if r["task"].startswith("metaworld/") else "-")
        )
        per_seed = ", ".join(f"{v:.0f}" for v in r["finals"])
        # one seed has no spread to resample: no interval rather than a zero-width one
        interval = f"{r['low']:.1f} - {r['high']:.1f}" if len(r["finals"]) > 1 else "- (1 seed)"
        lines.append(
            f"| {r['task']} | {r['method']} | {r['seeds']}{flag} | {r['mean']:.1f} | {interval} "
            f"| {per_seed} | {paper} |"
        )
    lines += ["", "Paper (Rafailov et al. 2023): Franka Kitchen from pixels, MOTO mixed 100% and partial 90.5%; "
              "DreamerV2 77.5% and 13.5%. " + PAPER_METAWORLD_NOTE, "", f"Uncertainty vs gap: {gap_note}.", ""]
    lines += [f"![{name}]({name})" for name in figures]
    return "\n".join(lines + diagnosis_table(results)) + "\n"


def _cell(value, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:{fmt}}"


def diagnosis_table(results: list[RunResult]) -> list[str]:
    """One row per run with a diagnosis (``moto diagnose``: docs/campaigns.md says what each column means)."""
    diagnosed = sorted((r for r in results if r.diagnosis), key=lambda r: (r.task, r.method, r.seed))
    if not diagnosed:
        return []
    lines = ["", "## Per-run diagnosis (final checkpoint, `moto diagnose`)", "",
             "| run | final success (%) | demos ok | online ok | reward MSE ratio on demos | largest predicted "
             "reward online | open-loop error seeing / imagining | expert log-lik own / other state |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in diagnosed:
        d = r.diagnosis
        lines.append(
            f"| {r.name} | {_cell(100 * r.final_success, '.0f')} | {d.get('demo_successes')}/{d.get('demo_episodes')} "
            f"| {d.get('online_successes')}/{d.get('online_episodes')} "
            f"| {_cell(d.get('demo_reward_mse_ratio'), '.2f')} "
            f"| {_cell(d.get('online_max_predicted_reward'), '.2f')} "
            f"| {_cell(d.get('open_loop_error_context'), '.1f')} / {_cell(d.get('open_loop_error_imagined'), '.1f')} "
            f"| {_cell(d.get('demo_action_loglik'), '.2f')} / {_cell(d.get('demo_action_loglik_other_state'), '.2f')} |"
        )
    return lines


def write_report(campaign_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the figures and report.md into ``out`` (default ``<campaign_dir>/report``); returns report.md."""
    campaign_dir = Path(campaign_dir)
    results = read_campaign(campaign_dir)
    if not any(r.evals for r in results):
        raise UserError(
            f"no run with an evaluation under {campaign_dir}/runs; is this a campaign directory (moto campaign --dir)?"
        )
    out = Path(out) if out else campaign_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    rows = final_table(results)
    figures = ["success_curves.png", "final_success.png"]
    plot_success_curves(results, out / "success_curves.png")
    plot_final_success(rows, out / "final_success.png")
    if len({r.method.split(" ")[0] for r in results if r.evals}) > 1:
        plot_ablations(results, out / "ablations.png")
        figures.append("ablations.png")
    gap_note = plot_uncertainty_gap(results, out / "uncertainty_gap.png")
    figures.append("uncertainty_gap.png")
    report = out / "report.md"
    report.write_text(markdown(campaign_dir, results, rows, gap_note, figures))
    return report


def main(args: argparse.Namespace) -> int:
    report = write_report(args.campaign_dir, args.out)
    print(report.read_text())
    print(f"report written to {report}")
    return 0
