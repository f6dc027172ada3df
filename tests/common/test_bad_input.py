"""Bad input fails at start-up naming the key, leaves nothing behind; kitchen imports print no Adroit notice."""

import subprocess
import sys

import pytest

from moto_rl.common.config_loading import ConfigError, load_config
from moto_rl.deploy.cli import main as moto


@pytest.mark.parametrize(
    "override,key",
    [
        ("schedule.offline_steps=-5", "schedule.offline_steps"),
        ("schedule.online_steps=-1", "schedule.online_steps"),
        ("schedule.updates_per_episode=0", "schedule.updates_per_episode"),
        ("schedule.eval_episodes=0", "schedule.eval_episodes"),
        ("schedule.demo_episodes=-2", "schedule.demo_episodes"),
        ("model.deter=0", "model.deter"),
        ("model.ensemble=0", "model.ensemble"),
        ("model.hidden=-8", "model.hidden"),
        ("algo.batch_size=0", "algo.batch_size"),
        ("algo.seq_len=1", "algo.seq_len"),
        ("algo.imag_horizon=0", "algo.imag_horizon"),
        ("env.max_episode_steps=0", "env.max_episode_steps"),
        ("workers.envs_per_worker=0", "workers.envs_per_worker"),
        ("workers.num_workers=-1", "workers.num_workers"),
        ("model.decoder_channels=[64,0]", "model.decoder_channels"),
    ],
)
def test_negative_or_zero_counts_are_rejected_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config([override])


@pytest.mark.parametrize(
    "override",
    [
        "schedule.offline_steps=0",
        "workers.num_workers=0",
        "schedule.eval_every_episodes=0",
        "schedule.checkpoint_every=0",
        "algo.agent_batch=0",
    ],
)
def test_zero_where_zero_means_none_or_never_is_accepted(override):
    load_config([override])


def test_a_rejected_train_leaves_no_run_directory(tmp_path, capsys):
    assert moto(["train", "schedule.offline_steps=-5", f"logging.root={tmp_path / 'runs'}"]) == 2
    assert "schedule.offline_steps=-5 must be 0 or more" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_pretrain_on_a_missing_store_leaves_no_run_directory(tmp_path, capsys):
    run_dir = tmp_path / "runs" / "pre"
    assert moto(["pretrain", str(tmp_path / "nonexistent" / "store"), "--run-dir", str(run_dir)]) == 2
    assert "nonexistent" in capsys.readouterr().err
    assert not run_dir.exists() and not (tmp_path / "runs").exists()


def test_overrides_after_options_are_overrides_and_other_leftovers_are_errors(tmp_path, capsys):
    # argparse ends `overrides` at the first option; the key=value after it must still be read as one
    run_dir = tmp_path / "runs" / "pre"
    args = ["pretrain", str(tmp_path / "nonexistent" / "store"), "--run-dir", str(run_dir), "schedule.offline_steps=-5"]
    assert moto(args) == 2
    assert "schedule.offline_steps=-5 must be 0 or more" in capsys.readouterr().err  # checked before the store
    assert moto(["train", "size=tiny", "--resume", str(tmp_path / "run"), "seed=1"]) == 2
    assert "drop the overrides" in capsys.readouterr().err
    for leftover in (["--bogus", "x"], ["size=tiny", "--resume", "x", "seed=1", "--bogus"]):
        with pytest.raises(SystemExit) as exit_:
            moto(["train", *leftover])
        assert exit_.value.code == 2
        assert "unrecognized arguments" in capsys.readouterr().err


def test_importing_the_kitchen_prints_no_adroit_notice():
    quiet = subprocess.run(
        [sys.executable, "-c", "import moto_rl.common.envs.kitchen, moto_rl.actors.kitchen_expert"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Adroit" not in quiet.stderr + quiet.stdout
    loud = subprocess.run(
        [sys.executable, "-c", "import gymnasium_robotics"], capture_output=True, text=True, check=True
    )
    assert "Adroit" in loud.stderr  # the notice this silences (if a release drops it, this line can go)


def test_a_failed_start_is_discarded_but_a_run_with_a_checkpoint_is_kept(tmp_path):
    from moto_rl.deploy.run.run_dir import RunDirectory, discard_failed_start

    cfg = load_config([f"logging.root={tmp_path}", "run_name=a"])
    run = RunDirectory.create(cfg)
    assert discard_failed_start(run) and not run.path.exists()
    run = RunDirectory.create(cfg)
    run.commit_checkpoint(run.staging_dir(10), 10, {"offline_done": 10})
    assert not discard_failed_start(run) and run.latest_checkpoint() is not None


def test_ray_failing_to_start_leaves_no_run_directory(tmp_path, capsys, monkeypatch):
    def timed_out(cfg, on_give_up=None):
        raise Exception("The current node timed out during startup.")

    monkeypatch.setattr("moto_rl.deploy.run.train.init_ray", timed_out)
    assert moto(["train", f"logging.root={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err
    assert "Ray did not start" in err and "timed out during startup" in err and "ray stop" in err
    assert list((tmp_path / "runs").iterdir()) == []
