"""`moto diagnose` on a run directory: the data counts come from the run's store, the reward figure is
the ratio it claims (checked against a recomputation from the model's own predictions), every figure is
written to diagnosis.json, and a campaign report prints it."""

import json
import math

import numpy as np
import torch

from moto_rl.common.config_loading import load_config
from moto_rl.deploy.campaign.report import write_report
from moto_rl.deploy.run.diagnose import DIAGNOSIS_FILE, diagnose, format_diagnosis
from moto_rl.deploy.run.run_dir import RunDirectory
from moto_rl.learner.diagnostics import reward_prediction
from moto_rl.learner.learner import Learner
from moto_rl.learner.service import CHECKPOINT_FILE
from moto_rl.storage import TrajectoryStore, synthetic


def make_run(root):
    cfg = load_config(["size=tiny", "task=metaworld/drawer-open", "run_name=diag", f"logging.root={root}"])
    run = RunDirectory.create(cfg)
    learner = Learner(cfg, 4)
    staging = run.staging_dir(30)
    learner.save(staging / CHECKPOINT_FILE)
    run.commit_checkpoint(
        staging,
        30,
        {
            "offline_done": 30,
            "online_done": 0,
            "episodes": 0,
            "env_steps": 0,
            "evals": [{"env_steps": 0, "episodes": 0, "learner_steps": 30, "success_rate": 0.0, "mean_return": 0.0}],
        },
    )
    run.write_curves(run.read_schedule(run.latest_checkpoint())["evals"])
    store = TrajectoryStore.open(run.store_url(cfg), create=True)
    outcomes = [("offline", True)] * 3 + [("offline", False)] + [("online", False)] * 4 + [("online", True)]
    for i, (source, success) in enumerate(outcomes):
        ep = synthetic.episode(steps=60, seed=i, source=source, success=success)
        ep.reward = ep.step_success.astype(np.float32)  # the sparse success reward of MetaWorld
        store.append(ep)
    return run, learner, store


def test_diagnosis_counts_the_stores_episodes_and_scores_reward_tracking(tmp_path):
    run, learner, store = make_run(tmp_path)
    d = diagnose(run.path)
    assert (d["demo_episodes"], d["demo_successes"], d["online_episodes"], d["online_successes"]) == (4, 3, 5, 1)
    assert json.loads((run.path / DIAGNOSIS_FILE).read_text()) == d

    demos = [store.read(e) for e in store.episode_ids() if store.meta(e).source == "offline"]
    torch.manual_seed(0)  # diagnose fixes the same noise before its first posterior
    mean = np.mean(np.concatenate([e.reward[1:] for e in demos]))
    preds = [reward_prediction(learner.world_model.eval(), e)[0] for e in demos]
    expected = sum(np.mean((p[1:] - e.reward[1:]) ** 2) for p, e in zip(preds, demos, strict=True)) / sum(
        np.mean((e.reward[1:] - mean) ** 2) for e in demos
    )
    assert math.isclose(d["demo_reward_mse_ratio"], expected, rel_tol=1e-4)
    assert d["online_max_true_reward"] == 1.0  # one online episode succeeded
    assert 0 <= d["open_loop_error_context"] <= 255 and d["open_loop_error_imagined"] > 0
    assert math.isfinite(d["demo_action_loglik"]) and math.isfinite(d["demo_action_loglik_other_state"])
    assert "3/4 succeeded" in format_diagnosis(d) and "1/5 succeeded" in format_diagnosis(d)


def test_report_prints_the_diagnosis_of_each_run(tmp_path):
    run, _, _ = make_run(tmp_path / "camp" / "runs")
    diagnose(run.path)
    run.summary_path.write_text("done\n")
    text = write_report(tmp_path / "camp", tmp_path / "report").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| diag |"))
    assert "| 3/4 | 1/5 |" in row
