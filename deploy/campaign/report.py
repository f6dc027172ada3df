"""``moto report CAMPAIGN_DIR``: the paper's plots and table for a campaign, as PNGs and report.md.

- success_curves.png  success vs env steps per task, mean and 95% bootstrap interval over seeds (Fig. 2/3)
- final_success.png   final success per task and method, 95% Wilson interval over the final evaluations'
                      episodes, with the paper's numbers where it gives them
- ablations.png       final success per ablation, one panel per task that ran them all (Fig. 5); none
                      when no task ran more than one method
- uncertainty_gap.png epsilon_u on expert episodes vs the performance gap, one point per run (Fig. 6),
                      with Spearman's rho (ties at average rank), its p-value and n
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
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from moto_rl.common.errors import UserError  # noqa: E402
from moto_rl.deploy.campaign.results import (  # noqa: E402
    ABLATION_ORDER,
    PAPER,
    PAPER_METAWORLD_NOTE,
    RunResult,
    bootstrap_mean,
    curve_on_grid,
    group,
    method_order,
    read_campaign,
    spearman,
    wilson_interval,
)

CURVE_MARKERS = "osD^vP*X"


def palette(n: int) -> list[tuple]:
    """``n`` distinct colours: tab10 up to 10, tab20 (its ten strong shades first) up to 20, then evenly
    spaced hues; never a colour twice (tab10 alone wraps at 11, giving two series one colour)."""
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        tab20 = plt.get_cmap("tab20")
        return [tab20(i) for i in (*range(0, 20, 2), *range(1, 20, 2))][:n]
    return [plt.get_cmap("hsv")(i / n) for i in range(n)]


def method_colors(methods: list[str]) -> dict[str, tuple]:
    return dict(zip(methods, palette(len(methods)), strict=True))


def plot_success_curves(results: list[RunResult], path: Path) -> list[str]:
    """Draws the figure; returns the methods its legend names."""
    groups = group(results)
    tasks = sorted({t for t, _ in groups})
    methods = method_order({m for _, m in groups})
    colors = method_colors(methods)
    cols = min(len(tasks), 4)
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.7 * rows + 0.9), squeeze=False, sharey=True)
    for ax, task in zip(axes.flat, tasks, strict=False):
        present = [m for m in methods if groups.get((task, m))]
        for j, method in enumerate(present):
            grid, ys = curve_on_grid(groups[(task, method)])
            mean, low, high = bootstrap_mean(100 * ys)
            # earlier methods drawn wider and with larger markers: curves that coincide (all at 0) stay visible
            wide = len(present) - 1 - j
            marker = CURVE_MARKERS[methods.index(method) % len(CURVE_MARKERS)]
            ax.plot(
                grid,
                mean,
                color=colors[method],
                lw=1.5 + 1.0 * wide,
                label=method,
                marker=marker,
                ms=3.5 + 1.5 * wide,
                zorder=2 + j,
            )
            ax.fill_between(grid, low, high, color=colors[method], alpha=0.2, lw=0)
        seeds = max(len(groups.get((task, m), [])) for m in methods)
        ax.set_title(f"{task}  ({seeds} seed{'s' if seeds > 1 else ''})", fontsize=9)
        ax.set_ylim(-5, 105)
        ax.grid(alpha=0.3)
        ax.set_xlabel("online env steps", fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("success (%)")
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    legend: dict = {}  # every method once, whichever panel draws it (a task may lack some methods)
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    labels = [m for m in methods if m in legend]
    handles = [legend[m] for m in labels]
    height = fig.get_figheight()  # legend below, title above: 0.4 inch each
    fig.legend(handles, labels, loc="lower center", ncol=len(methods), frameon=False, fontsize=9)
    fig.suptitle("evaluation success: mean over seeds, 95% bootstrap interval over seeds", fontsize=10)
    fig.tight_layout(rect=(0, 0.4 / height, 1, 1 - 0.35 / height))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return labels


def final_table(results: list[RunResult]) -> list[dict]:
    """One row per (task, method): mean final success over seeds with its bootstrap interval, and the
    final evaluations' episodes pooled over seeds (successes / episodes) with their Wilson interval."""
    rows = []
    groups = group(results)
    order = method_order({m for _, m in groups})
    for (task, method), runs in sorted(groups.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        finals = np.array([100 * r.final_success for r in runs])
        mean, low, high = bootstrap_mean(finals)
        successes, episodes = sum(r.final_successes for r in runs), sum(r.final_episodes for r in runs)
        w_low, w_high = wilson_interval(successes, episodes)
        rows.append(
            {
                "task": task,
                "method": method,
                "seeds": len(runs),
                "unfinished": sum(not r.finished for r in runs),
                "mean": float(mean),
                "low": float(low),
                "high": float(high),
                "finals": finals.tolist(),
                "successes": successes,
                "episodes": episodes,
                "wilson_low": 100 * w_low,
                "wilson_high": 100 * w_high,
                "paper": PAPER.get(task, {}).get(method.split(" ")[0]),
            }
        )
    return rows


def _zero_marker(ax, x: float, y: float, color, horizontal: bool):
    """A zero-height bar is invisible: a block at 0 in the bar's colour shows it was drawn."""
    (line,) = ax.plot([x], [y], marker="s", ms=7 if horizontal else 9, mec="black", mew=0.6, color=color, zorder=3)
    return line


def _final_success_legend(ax, rows: list[dict], methods: list[str], colors: dict) -> list:
    """The legend of ``plot_final_success`` (methods, then the marks it draws) above the axes, and the title."""
    handles = [Patch(facecolor=colors[m], alpha=0.8, label=m) for m in methods]
    handles.append(Line2D([], [], color="black", marker="|", ms=8, lw=1, label="95% Wilson (episodes)"))
    if any(r["seeds"] > 1 for r in rows):
        handles.append(Line2D([], [], ls="", marker="o", ms=4, mfc="none", mec="black", label="seeds"))
    if any(r["paper"] is not None for r in rows):
        handles.append(Line2D([], [], ls="", marker="*", ms=11, color="gold", mec="black", label="paper"))
    ax.legend(
        handles=handles,
        fontsize=8,
        ncol=min(len(handles), 4),
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        frameon=False,
    )
    ax.set_title(
        "final success per task: mean over seeds (successes / episodes of the final evaluations)",
        fontsize=10,
        pad=12 + 14 * math.ceil(len(handles) / 4),
    )
    return handles


def plot_final_success(rows: list[dict], path: Path) -> dict:
    """One horizontal bar per (task, method), grouped by task, each labelled with its value and
    successes / episodes; black bars = 95% Wilson interval over the final evaluations' episodes (pooled
    over seeds), dots = seeds, stars = the paper. Returns {"legend": labels, "zero_markers": {(task,
    method): the stroke drawn at 0}}."""
    tasks = sorted({r["task"] for r in rows})
    methods = method_order({r["method"] for r in rows})
    colors = method_colors(methods)
    bar, gap = 0.8, 0.7
    y, yticks, placed = 0.0, [], []  # top to bottom: tasks in order, their methods in order
    for task in tasks:
        mine = [r for m in methods for r in rows if r["task"] == task and r["method"] == m]
        ys = [y + k for k in range(len(mine))]
        placed += list(zip(ys, mine, strict=True))
        yticks.append(float(np.mean(ys)))
        y += len(mine) + gap
    fig, ax = plt.subplots(figsize=(9.5, max(3.2, 1.4 + 0.24 * y)))
    zero_markers = {}
    for yy, r in placed:
        color = colors[r["method"]]
        ax.barh(yy, r["mean"], bar, color=color, alpha=0.8, edgecolor=color, lw=1)
        if r["mean"] == 0:
            zero_markers[(r["task"], r["method"])] = _zero_marker(ax, 0, yy, color, horizontal=True)
        xerr = [[max(0.0, r["mean"] - r["wilson_low"])], [max(0.0, r["wilson_high"] - r["mean"])]]
        ax.errorbar(r["mean"], yy, xerr=xerr, color="black", capsize=2.5, lw=1, zorder=4)
        if r["seeds"] > 1:
            ax.scatter(
                r["finals"], [yy] * len(r["finals"]), s=16, facecolor="none", edgecolor="black", lw=0.9, zorder=5
            )
        if r["paper"] is not None:
            ax.scatter([r["paper"]], [yy], marker="*", s=130, color="gold", edgecolor="black", zorder=6)
        ax.text(
            max(r["mean"], r["wilson_high"]) + 1.5,
            yy,
            f"{r['mean']:.0f}%  ({r['successes']}/{r['episodes']})",
            va="center",
            fontsize=7,
        )
    ax.set_yticks(yticks, tasks, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-2, 118)
    ax.set_xlabel("final success (%)")
    ax.grid(axis="x", alpha=0.3)
    handles = _final_success_legend(ax, rows, methods, colors)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"legend": [h.get_label() for h in handles], "zero_markers": zero_markers}


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
    """Final success per method, one panel per task that ran them all (paper Fig. 5 pools tasks; pooling
    here would hide that only some tasks learn); returns those tasks. Draws nothing, and returns [], when
    no task ran more than one method."""
    tasks = ablation_tasks(results)
    if not tasks:
        return []
    runs = [r for r in results if r.evals and r.task in tasks]
    ablations = [a for a in ABLATION_ORDER if any(r.method.split(" ")[0] == a for r in runs)]
    ablations += sorted({r.method.split(" ")[0] for r in runs} - set(ablations))
    colors = method_colors(ablations)
    cols = min(len(tasks), 3)
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(max(3.6, 0.85 * len(ablations) + 1.0) * cols, 3.3 * rows + 0.8), squeeze=False, sharey=True
    )
    for ax, task in zip(axes.flat, tasks, strict=False):
        for i, ablation in enumerate(ablations):
            mine = [r for r in runs if r.task == task and r.method.split(" ")[0] == ablation]
            finals = np.array([100 * r.final_success for r in mine])
            mean = float(finals.mean())
            k, n = sum(r.final_successes for r in mine), sum(r.final_episodes for r in mine)
            low, high = (100 * v for v in wilson_interval(k, n))
            ax.bar(i, mean, 0.65, color=colors[ablation], alpha=0.8, edgecolor=colors[ablation], lw=1)
            if mean == 0:
                _zero_marker(ax, i, 0, colors[ablation], horizontal=False)
            ax.errorbar(
                i,
                mean,
                yerr=[[max(0.0, mean - low)], [max(0.0, high - mean)]],
                color="black",
                capsize=3,
                lw=1,
                zorder=4,
            )
            ax.scatter([i] * len(finals), finals, s=16, facecolor="none", edgecolor="black", lw=0.9, zorder=5)
            ax.text(i, high + 2, f"{mean:.0f}%\n{k}/{n}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(ablations)), ablations, fontsize=8, rotation=20)
        ax.set_title(f"{task}  ({len({r.seed for r in runs if r.task == task})} seeds)", fontsize=9)
        ax.set_ylim(-3, 125)
        ax.set_yticks(range(0, 101, 20))
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("final success (%)")
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    fig.suptitle(
        "ablations, per task: mean final success over seeds (dots), 95% Wilson interval over the final "
        "evaluations' episodes",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return tasks


def gap_correlation(results: list[RunResult]) -> tuple[float, float, int]:
    """Spearman's rho (ties at their average rank) between epsilon_u and the performance gap, p, n."""
    points = [r for r in results if r.evals and math.isfinite(r.epsilon_u)]
    return spearman([r.epsilon_u for r in points], [1 - r.final_success for r in points])


def plot_uncertainty_gap(results: list[RunResult], path: Path) -> str:
    """Paper Fig. 6; returns a one-line description (with the rank correlation) for the report."""
    points = [r for r in results if r.evals and math.isfinite(r.epsilon_u)]
    tasks = sorted({r.task for r in points})
    methods = method_order({r.method for r in points})
    colors = dict(zip(tasks, palette(len(tasks)), strict=True))
    markers = "osD^vP*X"
    fig, ax = plt.subplots(figsize=(8.0, 4.4))
    for r in points:
        ax.scatter(
            r.epsilon_u,
            100 * (1 - r.final_success),
            s=34,
            color=colors[r.task],
            marker=markers[methods.index(r.method) % len(markers)],
            edgecolor="black",
            linewidth=0.4,
        )
    for task in tasks:
        ax.scatter([], [], color=colors[task], edgecolor="black", linewidth=0.4, label=task)
    for k, method in enumerate(methods):
        ax.scatter([], [], color="white", edgecolor="black", marker=markers[k % len(markers)], label=method)
    rho, p, n = gap_correlation(results)
    ties = n - len({round(1 - r.final_success, 9) for r in points})
    if math.isfinite(rho):
        note = (
            f"Spearman rho {rho:+.2f} (tied values at their average rank), p = {p:.2f}, n = {n} runs; "
            f"{n - ties} distinct gaps among {n}"
        )
    elif n >= 3:
        note = f"{n} runs with epsilon_u recorded, but every gap (or every epsilon_u) is equal: no rank correlation"
    else:
        note = f"{n} run(s) with epsilon_u recorded: too few for a correlation"
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
    short = f"Spearman rho {rho:+.2f}, p = {p:.2f}, n = {n}" if math.isfinite(rho) else note
    ax.set_title(f"uncertainty vs performance gap (paper Fig. 6)\n{short}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return note


def kitchen_objects(results: list[RunResult]) -> list[str]:
    """Kitchen runs whose success flag counts fewer objects than the task has (``partial``: 3 of 4): the
    success over every object beside it, where the run's files say it."""
    runs = sorted((r for r in results if r.evals and r.counts_fewer_objects), key=lambda r: r.name)
    if not runs:
        return []
    lines = [
        "",
        "## Kitchen: success over all target objects",
        "",
        "Kitchen `partial`'s success flag counts the objects its behaviour-prior filter asks for, 3 of its 4; "
        "the paper's numbers (partial 90.5%) count all 4. Both, for the final evaluation:",
        "",
        "| run | success flag: objects | successes | all objects | successes | how known |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        k, how = r.final_all_objects()
        low, high = wilson_interval(r.final_successes, r.final_episodes)
        flag = f"{r.final_successes}/{r.final_episodes} ({100 * low:.0f}-{100 * high:.0f}%)"
        if k is None:
            every = "not recorded"
        else:
            a_low, a_high = wilson_interval(k, r.final_episodes)
            every = f"{k}/{r.final_episodes} ({100 * a_low:.0f}-{100 * a_high:.0f}%)"
        lines.append(
            f"| {r.name} | {', '.join(r.success_objects)} ({len(r.success_objects)} of {len(r.objects)}) "
            f"| {flag} | {', '.join(r.objects)} | {every} | {how} |"
        )
    with_outcomes = [r for r in runs if r.outcomes]
    for r in with_outcomes:
        for source, o in r.outcomes.items():
            per_object = ", ".join(f"{obj} {c}" for obj, c in o.get("objects", {}).items())
            lines.append(
                f"\n{r.name}, {source} episodes in its store: {o.get('successes')}/{o.get('episodes')} with "
                f"the success flag, {o.get('all_objects')}/{o.get('episodes')} with every object done; per "
                f"object: {per_object}."
            )
    if len(with_outcomes) < len(runs):
        lines.append(
            "\nRuns exported before `objects.json` (per-object outcomes of the stored episodes) keep no "
            "per-object count; their all-object figure is known only where the evaluation's return is 0."
        )
    return lines


def markdown(
    campaign_dir: Path,
    results: list[RunResult],
    rows: list[dict],
    gap_note: str,
    figures: list[str],
    notes: list[str] = (),
) -> str:
    finished = sum(r.finished for r in results)
    lines = [
        f"# Campaign report: {campaign_dir.name}",
        "",
        f"{len(results)} runs, {finished} finished. Final success = a run's last evaluation, mean over seeds. "
        "Successes / episodes pools the final evaluations' episodes over seeds; its interval is the 95% Wilson "
        "score interval, the uncertainty of so few episodes. The bootstrap interval is the 95% percentile "
        "bootstrap over seeds (2,000 resamples, seeded): with 2 seeds it mostly shows their spread.",
        "",
        "| task | method | seeds | final success (%) | successes / episodes | 95% Wilson (%) | 95% bootstrap over "
        "seeds (%) | per seed | paper |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
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
            f"| {r['task']} | {r['method']} | {r['seeds']}{flag} | {r['mean']:.1f} | {r['successes']}/{r['episodes']} "
            f"| {r['wilson_low']:.1f} - {r['wilson_high']:.1f} | {interval} | {per_seed} | {paper} |"
        )
    lines += [
        "",
        "Paper (Rafailov et al. 2023): Franka Kitchen from pixels, MOTO mixed 100% and partial 90.5%; "
        "DreamerV2 77.5% and 13.5% (success over all 4 objects). " + PAPER_METAWORLD_NOTE,
        "",
        f"Uncertainty vs gap: {gap_note}.",
        "",
    ]
    lines += list(notes) + ([""] if notes else [])
    lines += [f"![{name}]({name})" for name in figures]
    return "\n".join(lines + kitchen_objects(results) + diagnosis_table(results)) + "\n"


def _cell(value, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:{fmt}}"


def diagnosis_table(results: list[RunResult]) -> list[str]:
    """One row per run with a diagnosis (``moto diagnose``: docs/campaigns.md says what each column means)."""
    diagnosed = sorted((r for r in results if r.diagnosis), key=lambda r: (r.task, r.method, r.seed))
    if not diagnosed:
        return []
    lines = [
        "",
        "## Per-run diagnosis (final checkpoint, `moto diagnose`)",
        "",
        "| run | final success (%) | demos ok | online ok | reward MSE ratio on demos | largest predicted "
        "reward online | open-loop error seeing / imagining | expert log-lik own / other state |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in diagnosed:
        d = r.diagnosis
        lines.append(
            f"| {r.name} | {_cell(100 * r.final_success, '.0f')} ({r.final_successes}/{r.final_episodes}) "
            f"| {d.get('demo_successes')}/{d.get('demo_episodes')} "
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
    figures, notes = ["success_curves.png", "final_success.png"], []
    plot_success_curves(results, out / "success_curves.png")
    plot_final_success(rows, out / "final_success.png")
    (out / "ablations.png").unlink(missing_ok=True)  # a stale one from an earlier report would mislead
    if len({r.method.split(" ")[0] for r in results if r.evals}) > 1:
        if plot_ablations(results, out / "ablations.png"):
            figures.append("ablations.png")
        else:
            notes.append(
                "No ablation figure: no task ran more than one method, so no method can be compared "
                "with another on the same task."
            )
    gap_note = plot_uncertainty_gap(results, out / "uncertainty_gap.png")
    figures.append("uncertainty_gap.png")
    report = out / "report.md"
    report.write_text(markdown(campaign_dir, results, rows, gap_note, figures, notes))
    return report


def main(args: argparse.Namespace) -> int:
    report = write_report(args.campaign_dir, args.out)
    print(report.read_text())
    print(f"report written to {report}")
    return 0
