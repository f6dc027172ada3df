"""pretrain -> `moto train init_from=` -> `moto eval`: the hand-off and the evaluation of a checkpoint.

The pre-training store is synthetic (3 tiny MetaWorld-shaped episodes); fine-tuning runs a real
online phase with Ray (one worker, 10-step episodes) so the module stays around a minute on CI.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from moto_rl.common.episode import EpisodeStats
from moto_rl.common.errors import UserError
from moto_rl.deploy.cli import main as moto
from moto_rl.deploy.run.eval import summarize, wilson_interval
from moto_rl.storage import TrajectoryStore
from moto_rl.storage.synthetic import episode

# one test trains through Ray; the module stays whole in the Ray lane (tests/conftest.py) so that
# its `pretrained` fixture is built once
pytestmark = pytest.mark.ray
RAY_CPUS = 3  # ray_session (tests/conftest.py)

TINY = [
    "size=tiny",
    "algo.batch_size=2",
    "algo.seq_len=6",
    "algo.imag_horizon=3",
    "algo.agent_batch=8",
    "logging.progress=false",
    "logging.diagnostics_every=0",
    "env.max_episode_steps=10",
    "device=cpu",
]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A `moto pretrain` output of 3 gradient steps on 3 synthetic offline episodes."""
    root = tmp_path_factory.mktemp("pre")
    store = TrajectoryStore.open(str(root / "demos"), create=True)
    for seed in range(3):
        store.append(episode(steps=12, seed=seed, source="offline", success=seed == 0))
    run_dir = root / "pretrain"
    assert moto(["pretrain", str(root / "demos"), *TINY, "--steps", "3", "--run-dir", str(run_dir)]) == 0
    return root, run_dir


def test_wilson_interval_matches_reference_values():
    # Reference values (Wilson 1927; Newcombe 1998, Table I): 0/10, 5/10, 10/10 at 95%.
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    # and it contains the observed rate, shrinking with more episodes
    low, high = wilson_interval(30, 100)
    assert low < 0.3 < high and high - low < 0.7634 - 0.2366


def test_summary_counts_successes_and_object_completion():
    def stat(success, ret, length, completion):
        return EpisodeStats(
            episode_id=None,
            episode_return=ret,
            success=success,
            length=length,
            policy_version=0,
            policy_version_end=0,
            env_steps=length,
            seconds=1.0,
            worker="w",
            seed=0,
            source="eval",
            completion=completion,
        )

    stats = [
        stat(True, 3.0, 10, {"kettle": True, "microwave": True}),
        stat(False, 1.0, 20, {"kettle": True}),
    ]
    s = summarize(stats, ("kettle", "microwave", "light switch"))
    assert (s["episodes"], s["successes"], s["success_rate"], s["mean_return"], s["mean_length"]) == (
        2,
        1,
        0.5,
        2.0,
        15.0,
    )
    assert s["completion"] == {"kettle": 1.0, "microwave": 0.5, "light switch": 0.0}
    assert s["success_ci95"] == pytest.approx(list(wilson_interval(1, 2)))


def test_eval_of_a_pretrain_checkpoint_writes_json_and_gifs(pretrained, capsys):
    _, run_dir = pretrained
    assert moto(["eval", str(run_dir), "--episodes", "2", "--gifs", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 2 and result["learner_step"] == 3 and result["task"] == "metaworld/drawer-open"
    assert len(result["per_episode"]) == 2 and all(e["length"] == 10 for e in result["per_episode"])
    assert result["per_episode"][0]["seed"] != result["per_episode"][1]["seed"]
    out = Path(result["out"])
    assert out == run_dir / "eval" / "step_00000003"
    assert json.loads((out / "eval.json").read_text())["success_rate"] == result["success_rate"]
    gifs = sorted(out.glob("*.gif"))
    assert [g.name for g in gifs] == ["episode_000.gif"]
    from PIL import Image

    assert Image.open(gifs[0]).n_frames == 11  # the reset frame and 10 steps


def test_eval_rejects_what_is_not_a_checkpoint(tmp_path, capsys):
    from moto_rl.deploy.run.checkpoints import resolve_checkpoint

    assert moto(["eval", str(tmp_path / "nope")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no checkpoint"):
        resolve_checkpoint(tmp_path / "empty")
    (tmp_path / "empty" / "learner.pt").write_bytes(b"")
    with pytest.raises(UserError, match="no config.yaml"):
        resolve_checkpoint(tmp_path / "empty")


def test_init_from_with_another_size_fails_before_any_run_directory(pretrained, tmp_path, capsys):
    _, run_dir = pretrained
    code = moto(["train", f"init_from={run_dir}", "size=small", f"logging.root={tmp_path / 'runs'}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "does not fit this learner" in err and "size=tiny" in err
    assert not (tmp_path / "runs").exists()


def test_learner_service_starts_from_the_init_weights(pretrained):
    from moto_rl.common.config_loading import load_config
    from moto_rl.learner.service import LearnerService

    root, run_dir = pretrained
    cfg = load_config([*TINY, f"init_from={run_dir / 'learner.pt'}"])
    service = LearnerService(cfg, str(root / "demos"), str(root / "svc"))
    try:
        saved = torch.load(run_dir / "learner.pt", weights_only=True)
        for name, value in service.learner.world_model.state_dict().items():
            torch.testing.assert_close(value, saved["world_model"][name])
        assert service.step == 0  # fine-tuning counts its own steps; optimisers start fresh
        assert all(not s for s in service.learner.model_opt.state.values())
    finally:
        service.close()


@pytest.mark.slow
def test_train_init_from_then_eval_the_run(pretrained, ray_session, tmp_path):
    root, run_dir = pretrained
    overrides = [
        *TINY,
        f"init_from={run_dir}",
        "run_name=ft",
        f"logging.root={tmp_path}",
        "workers.num_workers=1",
        f"storage.offline_url={root / 'demos'}",
        "schedule.demo_episodes=3",
        "schedule.online_steps=4",
        "schedule.updates_per_episode=2",
        "schedule.eval_every_episodes=2",
        "schedule.eval_episodes=1",
        "schedule.checkpoint_every=2",
    ]
    assert moto(["train", *overrides]) == 0
    run = tmp_path / "ft"
    record = json.loads((run / "init_from.json").read_text())
    assert record["checkpoint"] == str((run_dir / "learner.pt").resolve()) and record["learner_step"] == 3
    assert len(record["sha256"]) == 64
    from moto_rl.deploy.run.run_dir import RunDirectory

    rd, cfg = RunDirectory.open(run)
    assert cfg.init_from == record["checkpoint"] and cfg.schedule.offline_steps == 0  # no second offline phase
    state = rd.read_schedule(rd.latest_checkpoint())
    assert (state["offline_done"], state["episodes"]) == (0, 2)
    assert state["evals"][0]["learner_steps"] == 0  # the first eval is the pre-trained policy itself
    assert moto(["eval", str(run), "--episodes", "1", "--gifs", "0"]) == 0
    assert list((run / "eval").glob("step_*/eval.json"))
    assert np.isfinite(json.loads(next((run / "eval").glob("step_*/eval.json")).read_text())["mean_return"])


def test_help_lists_eval_and_init_from(capsys):
    with pytest.raises(SystemExit):
        moto(["--help"])
    out = capsys.readouterr().out
    assert "eval" in out and "init_from=PATH" in out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU to write a CUDA checkpoint")
def test_a_checkpoint_trained_on_a_gpu_evaluates_on_a_cpu_only_process(pretrained, tmp_path):
    import subprocess
    import sys

    root, _ = pretrained
    gpu_run = tmp_path / "gpu"
    assert moto(["pretrain", str(root / "demos"), *TINY, "device=cuda", "--steps", "2", "--run-dir", str(gpu_run)]) == 0
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # the evaluating process sees no GPU at all
    out = subprocess.run(
        [sys.executable, "-m", "moto_rl.deploy.cli", "eval", str(gpu_run), "--episodes", "1", "--gifs", "0", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["learner_step"] == 2
