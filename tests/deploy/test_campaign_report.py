"""`moto report` on a synthetic finished campaign: run directories written by hand, as the driver would."""

import argparse
import json
import math

import numpy as np
import pytest
from PIL import Image

from moto_rl.common.config_loading import load_config, save_config
from moto_rl.deploy.campaign.report import main as report_main
from moto_rl.deploy.campaign.report import write_report
from moto_rl.deploy.campaign.results import bootstrap_mean, read_campaign
from moto_rl.deploy.run.run_dir import RunDirectory

TASKS = ["kitchen/mixed", "metaworld/drawer-open", "metaworld/plate-slide"]
ABLATIONS = ["full", "no-unc", "dreamerv2"]
SEEDS = [0, 1, 2]


def final_success(task, ablation, seed):
    base = {"full": 0.9, "no-unc": 0.6, "dreamerv2": 0.3}[ablation]
    return float(np.clip(base - 0.1 * TASKS.index(task) + 0.05 * seed, 0, 1))


def fake_run(root, task, ablation, seed, finished=True):
    """A run directory with config.yaml, a checkpoint's schedule.json, curves.csv and summary.txt."""
    name = f"{task.replace('/', '-')}-{ablation}-tiny-s{seed}"
    cfg = load_config(
        [
            "size=tiny",
            f"task={task}",
            f"ablation={ablation}",
            f"seed={seed}",
            f"run_name={name}",
            f"logging.root={root}",
        ]
    )
    run = RunDirectory(root / name)
    run.path.mkdir(parents=True)
    save_config(cfg, run.config_path)
    final, n = final_success(task, ablation, seed), 8 if finished else 4
    evals = []
    for i in range(n):
        success = final * i / 7 if finished else final * i / 7
        # epsilon_u on expert episodes grows with the final gap, as the paper's Fig. 6 shows
        eps = math.nan if i == 0 else 0.05 + 0.5 * (1 - final) + 0.01 * seed
        evals.append(
            {
                "env_steps": 1000 * i + 7 * seed,
                "episodes": 10 * i,
                "learner_steps": 300 + 50 * i,
                "success_rate": round(success, 4),
                "mean_return": 100 * success,
                "epsilon_u": eps,
            }
        )
    staging = run.staging_dir(350)
    run.commit_checkpoint(
        staging,
        350,
        {
            "offline_done": 300,
            "online_done": 50 * (n - 1),
            "episodes": 10 * (n - 1),
            "env_steps": 1000 * (n - 1),
            "offline_imported": True,
            "evals": evals,
        },
    )
    run.write_curves(evals)
    if finished:
        run.summary_path.write_text("MOTO run summary\n")
    return run


@pytest.fixture
def campaign(tmp_path):
    root = tmp_path / "camp" / "runs"
    for task in TASKS:
        for ablation in ABLATIONS:
            for seed in SEEDS:
                fake_run(
                    root, task, ablation, seed, finished=not (task == TASKS[2] and ablation == "no-unc" and seed == 2)
                )
    (root / "demos").mkdir()  # shared demos live beside the runs; not a run
    return tmp_path / "camp"


def test_report_writes_readable_plots_and_the_table(campaign, tmp_path, capsys):
    out = tmp_path / "report"
    assert report_main(argparse.Namespace(campaign_dir=str(campaign), out=str(out))) == 0
    for name in ("success_curves.png", "final_success.png", "ablations.png", "uncertainty_gap.png"):
        image = np.asarray(Image.open(out / name).convert("L"))
        assert image.shape[0] > 300 and image.shape[1] > 500
        assert (image < 200).mean() > 0.01  # something was drawn, not a blank canvas
    text = (out / "report.md").read_text()
    assert text == capsys.readouterr().out.split("report written to")[0].rstrip("\n") + "\n"
    assert "27 runs, 26 finished" in text
    row = next(line for line in text.splitlines() if line.startswith("| kitchen/mixed | full |"))
    assert "| 3 | 95.0 |" in row and row.rstrip().endswith("| 100 |")  # mean of 90, 95, 100; paper 100%
    assert (
        next(line for line in text.splitlines() if line.startswith("| kitchen/mixed | dreamerv2 |"))
        .rstrip()
        .endswith("| 77.5 |")
    )
    assert "| metaworld/plate-slide | no-unc | 3 (1 unfinished) |" in text
    assert "best or tied on 9 of 10" in text
    assert "Spearman rho +" in text and "n = 27 runs" in text  # the synthetic epsilon_u grows with the gap
    assert "| successes / episodes | 95% Wilson (%) |" in text
    for name in ("success_curves.png", "final_success.png", "ablations.png", "uncertainty_gap.png"):
        assert f"![{name}]({name})" in text


def test_report_reads_epsilon_u_and_final_success_per_run(campaign):
    results = {r.name: r for r in read_campaign(campaign)}
    assert len(results) == 27
    r = results["metaworld-drawer-open-no-unc-tiny-s1"]
    assert r.final_success == pytest.approx(final_success("metaworld/drawer-open", "no-unc", 1), abs=1e-4)
    assert r.epsilon_u == pytest.approx(0.05 + 0.5 * (1 - r.final_success) + 0.01, abs=1e-4)
    assert not results["metaworld-plate-slide-no-unc-tiny-s2"].finished


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    values = np.array([[0.1, 0.5], [0.3, 0.5], [0.8, 0.5]])
    mean, low, high = bootstrap_mean(values)
    again = bootstrap_mean(values)
    assert np.array_equal(low, again[1]) and np.array_equal(high, again[2])
    assert np.all(low <= mean) and np.all(mean <= high)
    assert low[0] < mean[0] < high[0] and low[1] == high[1] == 0.5  # no spread, no interval


def test_report_of_an_empty_folder_says_what_is_wrong(tmp_path):
    from moto_rl.common.errors import UserError

    with pytest.raises(UserError, match="no run with an evaluation"):
        write_report(tmp_path)


def test_success_curves_legend_names_every_method_even_if_the_first_task_lacks_some(tmp_path):
    from moto_rl.deploy.campaign.report import plot_success_curves

    root = tmp_path / "camp" / "runs"
    fake_run(root, "kitchen/mixed", "full", 0)  # the first panel: one method only
    for ablation in ("full", "no-unc", "dreamerv2"):
        fake_run(root, "metaworld/drawer-open", ablation, 0)
    labels = plot_success_curves(read_campaign(tmp_path / "camp"), tmp_path / "curves.png")
    assert labels == ["full", "no-unc", "dreamerv2"]


def test_ablation_plot_compares_methods_on_the_tasks_that_ran_them_all(tmp_path):
    from moto_rl.deploy.campaign.report import plot_ablations

    root = tmp_path / "camp" / "runs"
    for task in TASKS:  # full MOTO everywhere, the ablations on drawer-open only
        fake_run(root, task, "full", 0)
    for ablation in ("no-unc", "dreamerv2"):
        fake_run(root, "metaworld/drawer-open", ablation, 0)
    assert plot_ablations(read_campaign(tmp_path / "camp"), tmp_path / "abl.png") == ["metaworld/drawer-open"]


def curve_run(root, task, ablation, seed, finals, *, eval_episodes=0, returns=None, eps=None, schedule=()):
    """A finished run written as an export leaves it (config.yaml, curves.csv, summary.txt; no checkpoint):
    one evaluation per value of ``finals``."""
    name = f"{task.replace('/', '-')}-{ablation}-tiny-s{seed}"
    cfg = load_config(
        [
            "size=tiny",
            f"task={task}",
            f"ablation={ablation}",
            f"seed={seed}",
            f"run_name={name}",
            f"logging.root={root}",
            *schedule,
        ]
    )
    run = RunDirectory(root / name)
    run.path.mkdir(parents=True)
    save_config(cfg, run.config_path)
    returns = returns if returns is not None else [10 * f for f in finals]
    eps = eps if eps is not None else 0.2
    run.write_curves(
        [
            {
                "env_steps": 1000 * i,
                "episodes": 10 * i,
                "learner_steps": 100 * i,
                "success_rate": f,
                "mean_return": r,
                "epsilon_u": eps,
                "eval_episodes": eval_episodes,
            }
            for i, (f, r) in enumerate(zip(finals, returns, strict=True))
        ]
    )
    run.summary_path.write_text("MOTO run summary\n")
    return run


def test_wilson_interval_of_one_success_in_five():
    from moto_rl.deploy.campaign.results import wilson_interval

    # the Wilson score interval (deploy/run/eval.py's formula); the exact Clopper-Pearson one would be 0.005-0.716
    low, high = wilson_interval(1, 5)
    assert low == pytest.approx(0.0362, abs=1e-4) and high == pytest.approx(0.6245, abs=1e-4)
    assert wilson_interval(0, 5) == (0.0, pytest.approx(0.4345, abs=1e-4))
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_table_gives_successes_over_the_final_evaluations_episodes_and_their_wilson_interval(tmp_path):
    root = tmp_path / "camp" / "runs"
    # an old run: curves.csv without the episode count, the config says 5
    curve_run(root, "metaworld/door-open", "full", 0, [0.0, 0.2])
    # a new one: 10 episodes per evaluation, 20 at the end, recorded in curves.csv
    curve_run(
        root,
        "metaworld/hammer",
        "full",
        0,
        [0.1, 0.25],
        eval_episodes=20,
        schedule=["schedule.eval_episodes=10", "schedule.final_eval_episodes=20"],
    )
    # a new config without the column: final_eval_episodes of the config
    curve_run(
        root,
        "metaworld/assembly",
        "full",
        0,
        [0.1, 0.5],
        schedule=["schedule.eval_episodes=10", "schedule.final_eval_episodes=20"],
    )
    text = write_report(tmp_path / "camp", tmp_path / "out").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| metaworld/")}
    assert "| 20.0 | 1/5 | 3.6 - 62.4 |" in rows["metaworld/door-open"]
    assert "| 25.0 | 5/20 | 11.2 - 46.9 |" in rows["metaworld/hammer"]
    assert "| 50.0 | 10/20 |" in rows["metaworld/assembly"]


def test_palette_gives_distinct_colours_for_many_series():
    from moto_rl.deploy.campaign.report import method_colors, palette

    for n in (4, 11, 12, 20, 25):
        assert len(set(palette(n))) == n
    colors = method_colors([f"m{i}" for i in range(12)])
    assert len(set(colors.values())) == 12


def test_a_zero_bar_is_drawn_and_every_method_is_in_the_legend(tmp_path):
    from moto_rl.deploy.campaign.report import final_table, plot_final_success

    root = tmp_path / "camp" / "runs"
    for ablation, final in (("full", 0.4), ("no-unc", 0.0), ("no-bc", 0.0), ("dreamerv2", 0.2)):
        curve_run(root, "metaworld/drawer-open", ablation, 0, [0.0, final])
    curve_run(root, "metaworld/hammer", "full", 0, [0.0, 0.0])
    drawn = plot_final_success(final_table(read_campaign(tmp_path / "camp")), tmp_path / "final.png")
    assert {"full", "no-unc", "no-bc", "dreamerv2"} <= set(drawn["legend"])
    assert set(drawn["zero_markers"]) == {
        ("metaworld/drawer-open", "no-unc"),
        ("metaworld/drawer-open", "no-bc"),
        ("metaworld/hammer", "full"),
    }
    for marker in drawn["zero_markers"].values():
        assert list(marker.get_xdata()) == [0] and marker.get_visible() and marker.get_markersize() > 0
    width, height = Image.open(tmp_path / "final.png").size
    assert width <= 1600 and height <= 1600


def test_uncertainty_gap_correlation_ranks_ties_by_their_average(tmp_path):
    from scipy.stats import spearmanr

    from moto_rl.deploy.campaign.report import gap_correlation, plot_uncertainty_gap

    root = tmp_path / "camp" / "runs"
    finals = [0.0, 0.0, 0.0, 0.0, 0.2, 0.0, 0.4, 0.0]  # gaps tie at 100, as in a study where little learns
    eps = [0.25, 0.21, 0.24, 0.22, 0.20, 0.23, 0.26, 0.19]
    for seed, (f, e) in enumerate(zip(finals, eps, strict=True)):
        curve_run(root, "metaworld/drawer-open", "full", seed, [0.0, f], eps=e)
    results = read_campaign(tmp_path / "camp")
    rho, p, n = gap_correlation(results)
    expected = spearmanr([r.epsilon_u for r in results], [1 - r.final_success for r in results])
    assert n == 8 and rho == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
    ordinal = np.corrcoef(np.argsort(np.argsort(eps)), np.argsort(np.argsort([1 - f for f in finals])))[0, 1]
    assert abs(rho - ordinal) > 0.05  # the old ordinal ranks break the ties arbitrarily
    note = plot_uncertainty_gap(results, tmp_path / "gap.png")
    assert f"Spearman rho {expected.statistic:+.2f}" in note and f"p = {expected.pvalue:.2f}" in note
    assert "n = 8" in note


def test_no_ablation_figure_when_no_task_ran_two_methods(tmp_path):
    from moto_rl.deploy.campaign.report import plot_ablations

    root = tmp_path / "camp" / "runs"
    curve_run(root, "metaworld/coffee-push", "full", 0, [0.0, 0.2])
    curve_run(root, "metaworld/bin-picking", "no-unc", 0, [0.0, 0.0])
    out = tmp_path / "out"
    out.mkdir()
    (out / "ablations.png").write_bytes(b"stale")  # an earlier report's figure must not survive
    assert plot_ablations(read_campaign(tmp_path / "camp"), tmp_path / "abl.png") == []
    assert not (tmp_path / "abl.png").exists()
    text = write_report(tmp_path / "camp", out).read_text()
    assert not (out / "ablations.png").exists() and "ablations.png" not in text
    assert "No ablation figure" in text


def test_ablation_figure_has_one_panel_per_task(tmp_path):
    from moto_rl.deploy.campaign.report import plot_ablations

    root = tmp_path / "camp" / "runs"
    for task in ("metaworld/drawer-open", "metaworld/window-open"):
        for ablation in ("full", "no-unc"):
            curve_run(root, task, ablation, 0, [0.0, 0.2 if ablation == "full" else 0.0])
    import matplotlib.pyplot as plt

    seen = []
    real = plt.subplots
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt, "subplots", lambda *a, **k: seen.append((a, k)) or real(*a, **k))
        tasks = plot_ablations(read_campaign(tmp_path / "camp"), tmp_path / "abl.png")
    assert tasks == ["metaworld/drawer-open", "metaworld/window-open"]
    assert seen[0][0][:2] == (1, 2)  # one row, a panel per task


def test_kitchen_partial_reports_success_over_all_four_objects(tmp_path):
    root = tmp_path / "camp" / "runs"
    # no object at its goal in any evaluation step (return 0): 0 with all four objects too
    curve_run(root, "kitchen/partial", "full", 0, [0.0, 0.0], returns=[0.0, 0.0], schedule=["schedule.eval_episodes=3"])
    # a success over 3 objects, return > 0 and no per-object record: unknown over all four
    run = curve_run(root, "kitchen/partial", "full", 1, [0.0, 0.2], returns=[0.0, 120.0])
    (run.path / "objects.json").write_text(
        json.dumps(
            {
                "online": {
                    "episodes": 50,
                    "successes": 4,
                    "all_objects": 1,
                    "objects": {"microwave": 9, "kettle": 6, "bottom burner": 4, "light switch": 2},
                }
            }
        )
    )
    text = write_report(tmp_path / "camp", tmp_path / "out").read_text()
    assert "## Kitchen: success over all target objects" in text
    lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| kitchen-")}
    assert (
        "(3 of 4) | 0/3 (0-56%) | microwave, kettle, bottom burner, light switch | 0/3 (0-56%) | final evaluation "
        "return 0" in lines["kitchen-partial-full-tiny-s0"]
    )
    assert "| 1/5 (4-62%) |" in lines["kitchen-partial-full-tiny-s1"]
    assert "| not recorded |" in lines["kitchen-partial-full-tiny-s1"]
    assert (
        "kitchen-partial-full-tiny-s1, online episodes in its store: 4/50 with the success flag, 1/50 with every "
        "object done" in text
    )
