"""Config: presets compose in the documented order and bad input fails naming the key and the fix."""

import subprocess
import sys

import pytest

from moto_rl.common.config import MotoConfig
from moto_rl.common.config_loading import ConfigError, load_config, load_config_file, preset_names, save_config
from moto_rl.common.tasks import all_task_ids


def test_default_profile_is_the_short_local_run():
    cfg = load_config([])
    assert isinstance(cfg, MotoConfig)
    assert cfg.size == "tiny" and cfg.env.task == "metaworld/drawer-open"
    # the profile's short schedule wins over the task preset's paper schedule (20 updates per episode)
    assert cfg.schedule.updates_per_episode == 10 and cfg.schedule.online_steps < 20000


def test_presets_and_overrides_apply_in_order():
    cfg = load_config(["profile=paper", "task=kitchen/mixed", "ablation=no-bc", "algo.imag_horizon=7"])
    assert cfg.model.deter == 600 and cfg.model.hidden == 400 and cfg.model.cnn_depth == 48
    assert cfg.env.action_repeat == 1 and cfg.env.max_episode_steps == 280
    assert cfg.schedule.offline_steps == 10000 and cfg.schedule.updates_per_episode == 50
    assert cfg.algo.bc_weight == 0.0 and cfg.algo.uncertainty_weight == 10.0
    assert cfg.algo.imag_horizon == 7  # command line beats the size preset's 15


def test_every_task_has_a_preset_and_every_preset_is_a_task():
    assert sorted(preset_names("tasks")) == sorted(all_task_ids())


@pytest.mark.parametrize(
    "ablation,alpha,beta,expansion",
    [
        ("full", 10.0, 10.0, True),
        ("no-unc", 0.0, 10.0, True),
        ("no-bc", 10.0, 0.0, True),
        ("no-bc-no-unc", 0.0, 0.0, True),
        ("dreamerv2", 0.0, 0.0, False),
    ],
)
def test_ablation_switches(ablation, alpha, beta, expansion):
    cfg = load_config([f"ablation={ablation}"])
    assert (cfg.algo.uncertainty_weight, cfg.algo.bc_weight, cfg.algo.value_expansion) == (alpha, beta, expansion)


@pytest.mark.parametrize(
    "overrides,needles",
    [
        (["env.tsk=x"], ["env.tsk", "Did you mean 'env.task'", "max_episode_steps"]),
        (["nonsense=1"], ["nonsense", "Valid keys in the top level", "schedule"]),
        (["algo.gamma=abc"], ["algo.gamma", "abc"]),
        (["task=metaworld/drawer-opn"], ["drawer-opn", "metaworld/drawer-open", "kitchen/mixed"]),
        (["size=huge"], ["huge", "tiny", "paper"]),
        (["ablation=nobc"], ["nobc", "no-bc"]),
        (["env.gl_backend=wayland"], ["env.gl_backend", "egl", "osmesa"]),
        (["device=tpu"], ["device", "cuda:N"]),
        (["size"], ["key=value"]),
    ],
)
def test_bad_input_names_the_problem_and_the_choices(overrides, needles):
    with pytest.raises(ConfigError) as err:
        load_config(overrides)
    for needle in needles:
        assert needle in str(err.value)


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(["size=small", "seed=3", "workers.num_workers=5"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config_file(tmp_path / "config.yaml") == cfg


def test_cli_reports_config_errors_without_traceback():
    out = subprocess.run(
        [sys.executable, "-m", "moto_rl.deploy.cli", "config", "algo.bogus=1"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "unknown config key 'algo.bogus'" in out.stderr and "Traceback" not in out.stderr


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "moto_rl.deploy.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("train", "pretrain", "envs", "store", "collect-demos", "bench"):
        assert command in out.stdout
