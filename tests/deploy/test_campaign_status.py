"""Campaign bookkeeping without Ray: run states from disk, the status table, and refusing to resume
a run whose config the spec no longer gives."""

import json

import pytest

from moto_rl.common.errors import UserError
from moto_rl.deploy.campaign.runner import check_unchanged
from moto_rl.deploy.campaign.spec import expand, load_spec
from moto_rl.deploy.campaign.state import status_table, write_heartbeat
from moto_rl.deploy.run.run_dir import RunDirectory

SPEC = (
    "tasks: [metaworld/drawer-open]\nseeds: [0, 1, 2, 3]\nsizes: [tiny]\n"
    "overrides: [schedule.offline_steps=300, schedule.online_steps=40, schedule.updates_per_episode=4]\n"
)


def checkpoint(run, offline, online, episodes, success):
    evals = [
        {
            "env_steps": 10 * episodes,
            "episodes": episodes,
            "learner_steps": offline + online,
            "success_rate": success,
            "mean_return": 1.0,
            "epsilon_u": 0.1,
        }
    ]
    run.commit_checkpoint(
        run.staging_dir(offline + online),
        offline + online,
        {
            "offline_done": offline,
            "online_done": online,
            "episodes": episodes,
            "env_steps": 10 * episodes,
            "offline_imported": True,
            "evals": evals,
        },
    )


@pytest.fixture
def campaign(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(SPEC)
    points = expand(load_spec(spec_path), tmp_path / "camp")
    finished, interrupted, running = (RunDirectory.create(p.config()) for p in points[:3])
    checkpoint(finished, 300, 40, 10, 0.8)
    finished.summary_path.write_text("done\n")
    checkpoint(interrupted, 200, 0, 0, 0.0)
    write_heartbeat(tmp_path / "camp", [running.path.name])  # this process plays the live campaign
    return spec_path, points


def test_status_table_shows_state_and_progress_against_targets(campaign, tmp_path):
    _, points = campaign
    lines = status_table(points, tmp_path / "camp").splitlines()
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert rows[points[0].name][1:5] == ["finished", "340/340", "10/10", "80%"]  # 300 offline + 10 episodes x 4
    assert rows[points[1].name][1:5] == ["interrupted", "200/340", "0/10", "0%"]
    assert rows[points[2].name][1] == "running"
    assert rows[points[3].name][1:3] == ["pending", "-"]
    assert lines[-1] == "1 finished, 1 running, 1 interrupted, 1 pending  (4 runs)"


def test_a_dead_campaign_process_leaves_its_runs_interrupted(campaign, tmp_path):
    _, points = campaign
    beat = json.loads((tmp_path / "camp" / "campaign.json").read_text())
    beat["pid"] = 2**22 + 12345  # no such process on this host
    (tmp_path / "camp" / "campaign.json").write_text(json.dumps(beat))
    assert "0 running, 2 interrupted" in status_table(points, tmp_path / "camp")


def test_resuming_a_run_under_a_changed_spec_is_refused_naming_the_key(campaign, tmp_path):
    spec_path, points = campaign
    check_unchanged(points[1], RunDirectory(points[1].run_path(tmp_path / "camp")))  # same spec: fine
    spec_path.write_text(SPEC.replace("online_steps=40", "online_steps=80"))
    changed = expand(load_spec(spec_path), tmp_path / "camp")[1]
    with pytest.raises(UserError, match=r"schedule.online_steps: 40 -> 80.*new --dir"):
        check_unchanged(changed, RunDirectory(changed.run_path(tmp_path / "camp")))
