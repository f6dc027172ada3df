"""A campaign's results folder (spec key results_dir): finished runs' small files, exported whole or not
at all; a relaunch on a fresh checkout (an empty campaign directory) skips the runs found there, refuses
them under a changed spec, and `moto report` draws the study from those files alone. No Ray here: the
real campaign exports in tests/deploy/test_campaign_local.py."""

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image
from torch.utils.tensorboard import SummaryWriter

from moto_rl.common.errors import UserError
from moto_rl.deploy.campaign.export import export_run, exported_run, is_exported
from moto_rl.deploy.campaign.report import write_report
from moto_rl.deploy.campaign.runner import _Grid
from moto_rl.deploy.campaign.spec import expand, load_spec
from moto_rl.deploy.campaign.state import status_table
from moto_rl.deploy.run.run_dir import RunDirectory
from moto_rl.storage import TrajectoryStore, synthetic

SPEC = (
    "tasks: [metaworld/drawer-open]\nseeds: [0, 1]\nsizes: [tiny]\nablations: [full, no-bc]\n"
    "overrides: [schedule.offline_steps=300, schedule.online_steps=40, schedule.updates_per_episode=4]\n"
    "results_dir: {results}\n"
)


def finish(point, success: float) -> RunDirectory:
    """A finished run as the driver leaves it: config, checkpoint, curves with epsilon_u, TensorBoard, summary."""
    run = RunDirectory.create(point.config())
    evals = [
        {
            "env_steps": 100 * i,
            "episodes": i,
            "learner_steps": 300 + 4 * i,
            "success_rate": success * i / 10,
            "mean_return": 1.0 * i,
            "epsilon_u": math.nan if i == 0 else 0.5 / i,
        }
        for i in range(11)
    ]
    state = {"offline_done": 300, "online_done": 40, "episodes": 10, "env_steps": 1000, "evals": evals}
    run.commit_checkpoint(run.staging_dir(340), 340, state)
    run.write_curves(evals)
    writer = SummaryWriter(str(run.tb_dir / "learner"))
    for step in range(0, 340, 2):  # 170 points: thinned to at most 40 in scalars.csv
        writer.add_scalar("learner/model/reward_mse", 1.0 / (1 + step), step)
        writer.add_scalar("driver/model/reward_mse", 3.0, step)  # the driver's copy: not exported
    writer.close()
    store = TrajectoryStore.open(run.store_url(point.config()), create=True)
    for i, (source, success) in enumerate(
        [("offline", True), ("offline", True), ("offline", False), ("online", False), ("online", True)]
    ):
        store.append(synthetic.episode(steps=5, seed=i, success=success, source=source))
    frames = [Image.fromarray(np.full((16, 16, 3), 20 * i, np.uint8)) for i in range(10)]  # frame i: value 20 i
    frames[0].save(run.videos_dir / "eval_00000900.gif", save_all=True, append_images=frames[1:])
    Image.new("RGB", (16, 16)).save(run.videos_dir / "eval_00000000.gif")  # an earlier evaluation
    run.summary_path.write_text("MOTO run summary\n")
    return run


@pytest.fixture
def study(tmp_path):
    spec_path = tmp_path / "study.yaml"
    spec_path.write_text(SPEC.format(results=tmp_path / "results"))
    spec = load_spec(spec_path)
    return spec_path, spec, expand(spec, tmp_path / "camp")


def test_export_copies_the_small_files_and_thins_the_scalars(study, tmp_path):
    _, spec, points = study
    run = finish(points[0], 0.8)
    out = export_run(run, spec.results_dir)
    assert sorted(p.name for p in out.path.iterdir()) == [
        "config.yaml",
        "curves.csv",
        "demos.json",
        "final_eval.png",
        "progress.json",
        "scalars.csv",
        "summary.txt",
    ]  # no store, checkpoints, tb or videos
    assert json.loads((out.path / "progress.json").read_text()) == {
        "offline_done": 300,
        "online_done": 40,
        "episodes": 10,
        "env_steps": 1000,
    }
    strip = np.asarray(Image.open(out.path / "final_eval.png"))
    assert strip.shape == (16, 8 * 16, 3)  # 8 frames of the last evaluation, first and last included
    assert [int(strip[0, 16 * k, 0]) for k in (0, 7)] == [0, 180]
    with open(out.curves_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 11 and float(rows[-1]["success_rate"]) == pytest.approx(0.8)
    assert math.isnan(float(rows[0]["epsilon_u"])) and float(rows[-1]["epsilon_u"]) == pytest.approx(0.05)
    with open(out.path / "scalars.csv") as f:
        scalars = list(csv.DictReader(f))
    assert {r["tag"] for r in scalars} == {"learner/model/reward_mse"}
    steps = [int(r["step"]) for r in scalars]
    assert 30 <= len(steps) <= 41 and steps[0] == 0 and steps[-1] == 338 and steps == sorted(steps)
    assert json.loads((out.path / "demos.json").read_text()) == {
        "demo_episodes": 3,
        "demo_successes": 2,
        "online_episodes": 2,
        "online_successes": 1,
    }


def test_an_unfinished_run_is_not_exported(study):
    _, spec, points = study
    run = RunDirectory.create(points[1].config())
    with pytest.raises(ValueError, match="has not finished"):
        export_run(run, spec.results_dir)
    assert not is_exported(spec.results_dir, points[1].name)


def test_a_fresh_checkout_skips_the_exported_runs_and_reports_them(study, tmp_path):
    spec_path, spec, points = study
    for p, success in zip(points[:2], (0.8, 0.4), strict=True):
        export_run(finish(p, success), spec.results_dir)
    # a half-copied export (the session ended during the copy) is not a finished run
    (exported_run(spec.results_dir, points[2].name).path.with_name(f".staging-{points[2].name}")).mkdir()

    fresh = tmp_path / "fresh-checkout-camp"
    grid = _Grid(spec, fresh, limit=1)
    assert [p.name for p in grid.todo] == [p.name for p in points[2:]] and grid.done == 2
    lines = status_table(expand(spec, fresh), fresh, set(), spec.results_dir).splitlines()
    assert lines[-1] == "2 finished, 0 running, 0 interrupted, 2 pending  (4 runs)"
    exported_rows = [line for line in lines if points[0].name in line or points[1].name in line]
    assert len(exported_rows) == 2 and all("340/340" in r and "10/10" in r for r in exported_rows), lines

    report = write_report(spec.results_dir, tmp_path / "report")
    text = report.read_text()
    assert "2 runs, 2 finished" in text
    assert "| metaworld/drawer-open | full | 1 | 80.0 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| metaworld/drawer-open | no-bc |"))
    assert row.startswith("| metaworld/drawer-open | no-bc | 1 | 40.0 |") and "| - (1 seed) |" in row  # no bootstrap
    assert (tmp_path / "report" / "uncertainty_gap.png").stat().st_size > 5_000

    spec_path.write_text(SPEC.format(results=tmp_path / "results").replace("online_steps=40", "online_steps=80"))
    with pytest.raises(UserError, match=r"schedule.online_steps: 40 -> 80"):
        _Grid(load_spec(spec_path), fresh, limit=1)


def test_a_run_finished_before_results_dir_was_set_is_exported_on_relaunch(study, tmp_path):
    _, spec, points = study
    finish(points[0], 0.6)
    _Grid(spec, tmp_path / "camp", limit=1)
    assert is_exported(spec.results_dir, points[0].name)


def test_git_does_not_ignore_an_exported_run():
    """The results folder is meant to be committed; a .gitignore rule for run folders once swallowed it."""
    import shutil
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    for name in ("curves.csv", "success_curve.png", "summary.txt"):
        path = f"docs/results/any-study/runs/some-run/{name}"
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=repo).returncode == 0
        assert not ignored, f"git ignores {path}; exported results could not be committed"


def test_kitchen_object_outcomes_count_every_object_beside_the_success_flag():
    from moto_rl.common.episode import EpisodeMeta
    from moto_rl.deploy.campaign.export import object_outcomes

    objects = ("microwave", "kettle", "bottom burner", "light switch")
    three = dict.fromkeys(objects[:3], True) | {"light switch": False}
    metas = [
        EpisodeMeta("kitchen/partial", "offline", success=True, completion=three),
        EpisodeMeta("kitchen/partial", "offline", success=True, completion=dict.fromkeys(objects, True)),
        EpisodeMeta("kitchen/partial", "online", success=False, completion={"microwave": True}),
        EpisodeMeta("kitchen/partial", "online", success=False, completion={}),
    ]
    assert object_outcomes(metas, objects) == {
        "demo": {
            "episodes": 2,
            "successes": 2,
            "all_objects": 1,
            "objects": {"microwave": 2, "kettle": 2, "bottom burner": 2, "light switch": 1},
        },
        "online": {
            "episodes": 2,
            "successes": 0,
            "all_objects": 0,
            "objects": {"microwave": 1, "kettle": 0, "bottom burner": 0, "light switch": 0},
        },
    }
