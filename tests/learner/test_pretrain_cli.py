"""`moto pretrain` as a user runs it: the console script, in its own process, on a store."""

import subprocess
import sys
from pathlib import Path

import torch
from helpers.learner import tiny_config

from moto_rl.common.config_loading import load_config_file
from moto_rl.learner.learner import Learner
from moto_rl.storage import TrajectoryStore
from moto_rl.storage.synthetic import episode

MOTO = Path(sys.executable).with_name("moto")  # the installed command, wherever the CLI code lives
TINY = [
    "size=tiny",
    "algo.batch_size=2",
    "algo.seq_len=6",
    "algo.imag_horizon=3",
    "algo.agent_batch=0",
    "logging.progress=false",
    "logging.log_every=1",
    "logging.diagnostics_every=0",
    "device=cpu",
]


def test_pretrain_command_trains_and_writes_a_loadable_checkpoint(tmp_path):
    store = TrajectoryStore.open(str(tmp_path / "store"), create=True)
    for seed in range(3):
        store.append(episode(steps=20, seed=seed, source="offline", success=seed == 0))
    run = tmp_path / "run"
    done = subprocess.run(
        [str(MOTO), "pretrain", str(tmp_path / "store"), *TINY, "--steps", "3", "--run-dir", str(run)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pre-trained 3 steps" in done.stdout
    assert (run / "config.yaml").is_file() and any((run / "tb" / "learner").iterdir())
    cfg = load_config_file(run / "config.yaml")  # the overrides reached the run (the profile has batch 16 x 50)
    assert (cfg.algo.batch_size, cfg.algo.seq_len, cfg.algo.imag_horizon, cfg.logging.log_every) == (2, 6, 3, 1)
    learner = Learner(tiny_config(), 4)
    fresh = {k: v.clone() for k, v in learner.world_model.state_dict().items()}
    learner.load(run / "learner.pt")  # the one checkpoint name, as in run directories
    assert learner.step == 3
    assert any(not torch.equal(fresh[k], v) for k, v in learner.world_model.state_dict().items())  # trained weights


def test_pretrain_command_on_a_missing_store_says_so(tmp_path):
    done = subprocess.run(
        [str(MOTO), "pretrain", str(tmp_path / "nowhere"), *TINY, "--steps", "1", "--run-dir", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode != 0
    assert "no store at" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()  # a start that fails leaves no run directory


def test_checkpoint_file_finds_the_name_older_pretrain_runs_wrote(tmp_path):
    import pytest

    from moto_rl.learner.service import checkpoint_file

    with pytest.raises(FileNotFoundError, match="neither learner.pt nor checkpoint.pt"):
        checkpoint_file(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert checkpoint_file(tmp_path) == tmp_path / "checkpoint.pt"
    (tmp_path / "learner.pt").write_bytes(b"")
    assert checkpoint_file(tmp_path) == tmp_path / "learner.pt"
