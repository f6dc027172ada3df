"""A real campaign on a local Ray: 4 tiny runs (2 seeds x 2 ablations); killed halfway, relaunched,
it finishes without running any run twice from scratch.

Phase 1 runs one at a time and is stopped (the run in flight is force-killed, as a lost node would
kill it) once the first run has finished and the second has a checkpoint. Phase 2 relaunches with
two at a time. Each run holds 3 logical CPUs (learner, 1 rollout worker, evaluation worker), so the
local Ray gets 6 for two concurrent runs; fewer could leave both runs half-placed.
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.smoke import SMOKE_OVERRIDES
from omegaconf import OmegaConf

from moto_rl.deploy.campaign.export import exported_run
from moto_rl.deploy.campaign.runner import _Grid, run_campaign
from moto_rl.deploy.campaign.spec import CampaignSpec, expand
from moto_rl.deploy.campaign.state import read_events, run_progress, status_table
from moto_rl.deploy.cli import main as cli_main
from moto_rl.deploy.run.run_dir import RunDirectory

pytestmark = [pytest.mark.slow, pytest.mark.ray]
RAY_CPUS = 6  # ray_session (tests/conftest.py): two runs at once


def tiny_spec(root) -> CampaignSpec:
    # the same short schedule as tests/deploy/test_train_e2e.py, one rollout worker per run
    overrides = [
        *SMOKE_OVERRIDES,
        "logging.log_every=5",
        "logging.diagnostics_every=1000",
        "workers.num_workers=1",
        "schedule.offline_steps=20",
        "schedule.online_steps=12",
        "schedule.eval_every_episodes=3",
        "schedule.eval_episodes=1",
        "schedule.checkpoint_every=10",
        f"storage.offline_url={root}/demos",
    ]
    return CampaignSpec(
        tasks=["metaworld/drawer-open"],
        seeds=[0, 1],
        ablations=["full", "no-bc"],
        sizes=["tiny"],
        overrides=overrides,
        max_concurrent=2,
        name="tiny",
        results_dir=str(root / "results"),
    )


def test_campaign_killed_halfway_resumes_and_finishes_every_run_once(ray_session, tmp_path, capsys):
    spec = tiny_spec(tmp_path)
    camp = tmp_path / "camp"
    points = expand(spec, camp)
    first, second = (RunDirectory(p.run_path(camp)) for p in points[:2])
    at_stop: dict = {}

    def first_done_second_checkpointed() -> bool:
        checkpoint = second.latest_checkpoint()
        if first.summary_path.is_file() and checkpoint is not None:
            at_stop["checkpoint"] = checkpoint.name
            at_stop["learner_steps"] = run_progress(second, set()).learner_steps
            return True
        return False

    failures = run_campaign(spec, camp, max_concurrent=1, should_stop=first_done_second_checkpointed, poll_seconds=0.5)
    assert failures == {} and at_stop["learner_steps"] > 0
    table = status_table(points, camp)
    assert "1 finished, 0 running, 1 interrupted, 2 pending" in table
    assert not second.summary_path.exists()
    summary_mtime = first.summary_path.stat().st_mtime_ns
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(OmegaConf.to_yaml(OmegaConf.structured(spec)))
    capsys.readouterr()
    assert cli_main(["campaign", "status", str(spec_file), "--dir", str(camp)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith(points[1].name))
    assert "interrupted" in row and "/32" in row  # learner steps vs the target: 20 offline + 6 episodes x 2

    seen_steps: list[int] = []

    def watch_second() -> bool:  # never stops; records the resumed run's learner steps at every poll
        seen_steps.append(run_progress(second, set()).learner_steps)
        return False

    failures = run_campaign(spec, camp, max_concurrent=2, should_stop=watch_second, poll_seconds=0.5)
    assert failures == {}
    assert "4 finished, 0 running, 0 interrupted, 0 pending" in status_table(points, camp)
    assert first.summary_path.stat().st_mtime_ns == summary_mtime  # the finished run was skipped

    events = read_events(camp)
    starts = {p.name: [e for e in events if e["run"] == p.name and e["event"] == "start"] for p in points}
    assert [e["resume"] for e in starts[points[0].name]] == [False]
    assert [e["resume"] for e in starts[points[1].name]] == [False, True]
    assert [e["resume"] for e in starts[points[2].name]] == [False] == [e["resume"] for e in starts[points[3].name]]
    finished = [e for e in events if e["run"] == points[1].name and e["event"] == "finished"]
    assert len(finished) == 1 and finished[0]["checkpoint"] is not None
    # the resumed driver started from the checkpoint the kill left (or a later one), not from step 0
    assert finished[0]["started_at_learner_step"] >= at_stop["learner_steps"] > 0
    assert seen_steps and min(seen_steps) >= at_stop["learner_steps"] and seen_steps == sorted(seen_steps)

    for p in points:
        run = RunDirectory(p.run_path(camp))
        state = run.read_schedule(run.latest_checkpoint())
        assert (state["offline_done"], state["online_done"], state["episodes"]) == (20, 12, 6), p.name
        assert run.plot_path.is_file() and run.curves_path.is_file()
        # each finished run was exported to results_dir, and a fresh checkout would run none of them again
        exported = exported_run(spec.results_dir, p.name)
        assert exported.curves_path.read_text() == run.curves_path.read_text()
        demos = json.loads((exported.path / "demos.json").read_text())
        assert (demos["demo_episodes"], demos["online_episodes"]) == (2, 6)
    assert _Grid(spec, tmp_path / "fresh-checkout", limit=1).todo == []
    from moto_rl.storage import TrajectoryStore

    store = TrajectoryStore.open(second.store_url(RunDirectory.open(second.path)[1]))
    online = [eid for eid in store.episode_ids() if store.meta(eid).source == "online"]
    assert len(online) == len(set(online)) == 6  # no episode collected twice across the kill

    # `moto report` (the console script, wherever the CLI lives) on this real campaign: its table must
    # say what the runs' own curves.csv say. (In 10-step episodes every evaluation fails: success_rate and
    # mean_return, a sparse success reward, are 0 at every point of every run, and the table prints only
    # success, so a report that took the first evaluation as final would pass here; which evaluation
    # counts as final is checked on hand-made runs in test_campaign_report.py, which fails then.)
    moto = Path(sys.executable).with_name("moto")
    done = subprocess.run(
        [str(moto), "report", str(camp), "--out", str(tmp_path / "report")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "report" / "report.md").read_text()
    assert "4 runs, 4 finished" in text
    for ablation in ("full", "no-bc"):
        finals = []
        for p in points:
            if p.ablation != ablation:
                continue
            with open(RunDirectory(p.run_path(camp)).curves_path) as f:
                rows = list(csv.DictReader(f))
            assert int(float(rows[-1]["episodes"])) == 6  # the last point is the finished run's
            finals.append(100 * float(rows[-1]["success_rate"]))
        row = next(line for line in text.splitlines() if line.startswith(f"| metaworld/drawer-open | {ablation} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == "2"  # seeds, none unfinished
        assert float(cells[3]) == pytest.approx(sum(finals) / len(finals), abs=0.05)
        # cells: task, method, seeds, final, successes / episodes, Wilson, bootstrap, per seed, paper
        assert cells[7] == ", ".join(f"{v:.0f}" for v in finals)
        successes, episodes = (int(x) for x in cells[4].split("/"))
        assert 0 <= successes <= episodes and episodes % 2 == 0  # the two seeds' final evaluations, pooled
    assert (tmp_path / "report" / "success_curves.png").stat().st_size > 10_000
