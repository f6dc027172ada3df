"""`moto report` on a synthetic finished campaign: run directories written by hand, as the driver would."""

import argparse
import math

import numpy as np
import pytest
from PIL import Image

from common.config_loading import load_config, save_config
from deploy.campaign_report import main as report_main
from deploy.campaign_report import write_report
from deploy.campaign_results import bootstrap_mean, read_campaign
from deploy.run_dir import RunDirectory

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
        evals.append({"env_steps": 1000 * i + 7 * seed, "episodes": 10 * i, "learner_steps": 300 + 50 * i,
                      "success_rate": round(success, 4), "mean_return": 100 * success, "epsilon_u": eps})
    staging = run.staging_dir(350)
    run.commit_checkpoint(staging, 350, {"offline_done": 300, "online_done": 50 * (n - 1), "episodes": 10 * (n - 1),
                                         "env_steps": 1000 * (n - 1), "offline_imported": True, "evals": evals})
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
    assert "Spearman rank correlation +" in text  # the synthetic epsilon_u grows with the gap
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
    from common.errors import UserError

    with pytest.raises(UserError, match="no run with an evaluation"):
        write_report(tmp_path)


def test_success_curves_legend_names_every_method_even_if_the_first_task_lacks_some(tmp_path):
    from deploy.campaign_report import plot_success_curves

    root = tmp_path / "camp" / "runs"
    fake_run(root, "kitchen/mixed", "full", 0)  # the first panel: one method only
    for ablation in ("full", "no-unc", "dreamerv2"):
        fake_run(root, "metaworld/drawer-open", ablation, 0)
    labels = plot_success_curves(read_campaign(tmp_path / "camp"), tmp_path / "curves.png")
    assert labels == ["full", "no-unc", "dreamerv2"]


def test_ablation_plot_compares_methods_on_the_tasks_that_ran_them_all(tmp_path):
    from deploy.campaign_report import plot_ablations

    root = tmp_path / "camp" / "runs"
    for task in TASKS:  # full MOTO everywhere, the ablations on drawer-open only
        fake_run(root, task, "full", 0)
    for ablation in ("no-unc", "dreamerv2"):
        fake_run(root, "metaworld/drawer-open", ablation, 0)
    assert plot_ablations(read_campaign(tmp_path / "camp"), tmp_path / "abl.png") == ["metaworld/drawer-open"]
