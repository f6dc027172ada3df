"""`moto export policy` and `moto_rl.common.policy_export.load_policy`: a trained policy outside moto.

The exported policy acts as moto's own ``Policy`` does (same actions for the same frames and state), loads
without Ray, Zarr, the simulators or omegaconf, and on the real env repeats `moto eval`'s episode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from moto_rl.common.config import MotoConfig
from moto_rl.common.config_loading import load_config, save_config
from moto_rl.common.policy import Policy
from moto_rl.common.policy_export import CONFIG_FILE, WEIGHTS_FILE, PolicyFormatError, load_policy
from moto_rl.deploy.cli import main as moto
from moto_rl.learner.learner import Learner

ROOT = Path(__file__).resolve().parents[2]
ACTION_DIM = 4  # metaworld/drawer-open
# what the loader must not need; the project's own training stack included (only moto_rl.common may load)
BLOCKED = (
    "ray", "zarr", "numcodecs", "mujoco", "metaworld", "gymnasium", "gymnasium_robotics", "minari", "omegaconf",
    "yaml", "moto_rl.storage", "moto_rl.learner", "moto_rl.actors", "moto_rl.deploy",
)  # fmt: skip


def tiny_config(*overrides: str) -> MotoConfig:
    """``size=tiny``, fp32 (as tests/helpers/learner.py's, without its batch settings: nothing trains)."""
    return load_config(["size=tiny", "perf.amp_bf16=false", *overrides])


@pytest.fixture
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def pretrain_dir(path: Path, cfg: MotoConfig, seed: int = 0) -> tuple[Path, Learner]:
    """A `moto pretrain`-shaped output: learner.pt (written by Learner.save) beside its config.yaml; the
    weights are a fresh tiny learner's with its actor's output layer scaled up, so the actions vary."""
    torch.manual_seed(seed)
    learner = Learner(cfg, ACTION_DIM, device="cpu")
    with torch.no_grad():
        last = [m for m in learner.policy_net.actor.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.mul_(20.0)
    path.mkdir(parents=True)
    learner.save(path / "learner.pt")
    save_config(cfg, path / "config.yaml")
    return path, learner


LOAD_AND_ACT = """
import importlib.abc, json, sys
import numpy as np

BLOCKED = {blocked!r}

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"blocked import: {{name}}")
        return None

sys.meta_path.insert(0, Blocker())
import torch
torch.set_num_threads(1)
from moto_rl.common.policy_export import load_policy

policy = load_policy({out!r}, seed=5)
frames = np.load({frames!r})
actions = []
for episode in frames:  # (episodes, steps, 64, 64, 3)
    policy.reset()
    actions.append([policy.act(frame) for frame in episode])
policy.reset(seed=7)
sampled = [policy.act(frame, deterministic=False) for frame in frames[0]]
np.savez({result!r}, actions=np.array(actions), sampled=np.array(sampled))
loaded = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
print(json.dumps({{"loaded": loaded, "action_dim": policy.action_dim, "task": policy.task}}))
"""


def moto_policy_actions(
    weights: dict, cfg: MotoConfig, frames: np.ndarray, seed: int, deterministic: bool = True
) -> np.ndarray:
    """What a rollout worker's ``Policy`` does: torch seeded once, then per episode the initial state and
    is_first on its first frame (the posterior's z is sampled even when the action is the mode)."""
    policy = Policy(cfg.model, ACTION_DIM)
    policy.load_weights(weights)
    torch.manual_seed(seed)  # after building the net, whose initialisation draws from it (as a worker does)
    out = []
    for episode in frames:
        state = policy.initial_state(1)
        steps = []
        for t, frame in enumerate(episode):
            action, state = policy.act(frame[None], np.array([t == 0]), state, deterministic=deterministic)
            steps.append(np.clip(action[0], -1.0, 1.0))
        out.append(steps)
    return np.array(out)


def run_blocked_loader(out: Path, frames_path: Path, result: Path) -> dict:
    code = LOAD_AND_ACT.format(blocked=BLOCKED, out=str(out), frames=str(frames_path), result=str(result))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_exported_policy_acts_as_motos_policy_without_ray_zarr_or_simulators(tmp_path, one_thread):
    cfg = tiny_config()
    source, learner = pretrain_dir(tmp_path / "pretrain", cfg)
    out = tmp_path / "exported"
    assert moto(["export", "policy", str(source), str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE])
    config = json.loads((out / CONFIG_FILE).read_text())
    assert config["action_dim"] == ACTION_DIM and config["task"] == "metaworld/drawer-open"
    assert config["image_size"] == 64 and config["action_repeat"] == cfg.env.action_repeat
    assert config["precision"] == "float32" and config["learner_step"] == 0 and config["moto_version"]
    assert config["model"]["deter"] == cfg.model.deter and config["model"]["cnn_depth"] == cfg.model.cnn_depth

    frames = np.random.default_rng(0).integers(0, 256, (2, 6, 64, 64, 3), dtype=np.uint8)  # 2 episodes of 6
    np.save(tmp_path / "frames.npy", frames)
    info = run_blocked_loader(out, tmp_path / "frames.npy", tmp_path / "result.npz")
    assert info == {"loaded": [], "action_dim": ACTION_DIM, "task": "metaworld/drawer-open"}

    result = np.load(tmp_path / "result.npz")
    expected = moto_policy_actions(learner.policy_weights(), cfg, frames, seed=5)
    assert result["actions"].shape == (2, 6, ACTION_DIM) and result["actions"].dtype == np.float32
    np.testing.assert_allclose(result["actions"], expected, rtol=0, atol=1e-6)
    assert np.abs(np.diff(expected, axis=1)).max() > 1e-3  # the frames change the actions
    sampled = moto_policy_actions(learner.policy_weights(), cfg, frames[:1], seed=7, deterministic=False)[0]
    np.testing.assert_allclose(result["sampled"], sampled, rtol=0, atol=1e-6)
    assert not np.allclose(result["sampled"], result["actions"][0])


def test_state_is_kept_between_calls_and_cleared_by_reset(tmp_path, one_thread):
    source, _ = pretrain_dir(tmp_path / "pretrain", tiny_config())
    assert moto(["export", "policy", str(source / "learner.pt"), str(tmp_path / "out")]) == 0
    policy = load_policy(tmp_path / "out" / CONFIG_FILE)  # a file in the folder names the folder
    frames = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    initial = policy.policy.initial_state(1)
    first = [policy.act(f) for f in frames]
    assert not torch.equal(policy.state.deter, initial.deter)  # kept between calls
    policy.reset(seed=0)
    assert torch.equal(policy.state.deter, initial.deter) and torch.equal(policy.state.action, initial.action)
    again = [policy.act(f) for f in frames]
    np.testing.assert_array_equal(np.array(first), np.array(again))
    torch.manual_seed(123)
    global_draw = torch.rand(3)
    torch.manual_seed(123)
    policy.act(frames[0], deterministic=False)
    assert torch.equal(torch.rand(3), global_draw)  # its own random stream: torch's global one is untouched
    with pytest.raises(ValueError, match=r"\(64, 64, 3\) uint8"):
        policy.act(frames[0].astype(np.float32))


def test_load_policy_says_what_is_wrong_with_a_folder(tmp_path):
    source, _ = pretrain_dir(tmp_path / "pretrain", tiny_config())
    out = tmp_path / "out"
    assert moto(["export", "policy", str(source), str(out)]) == 0
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_policy(tmp_path / "missing")
    with pytest.raises(PolicyFormatError, match=f"no {CONFIG_FILE}"):
        load_policy(source)
    config = json.loads((out / CONFIG_FILE).read_text())
    (out / CONFIG_FILE).write_text(json.dumps(config | {"format_version": 99}))
    with pytest.raises(PolicyFormatError, match="format version 99"):
        load_policy(out)
    (out / CONFIG_FILE).write_text(json.dumps(config))
    (out / WEIGHTS_FILE).write_bytes(b"garbage")
    with pytest.raises(PolicyFormatError, match="not a readable safetensors file"):
        load_policy(out)


def test_export_errors_are_one_line(tmp_path, capsys):
    source, _ = pretrain_dir(tmp_path / "pretrain", tiny_config())

    def error(*argv: str) -> str:
        assert moto(["export", "policy", *argv]) == 2
        message = capsys.readouterr().err.strip()
        assert len(message.splitlines()) == 1, message
        return message

    assert "no such file or directory" in error(str(tmp_path / "missing"), str(tmp_path / "o1"))
    (tmp_path / "empty").mkdir()
    assert "holds no checkpoint" in error(str(tmp_path / "empty"), str(tmp_path / "o2"))
    (source / "notes.txt").write_text("not a checkpoint\n")
    assert "not a moto checkpoint" in error(str(source / "notes.txt"), str(tmp_path / "o3"))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    assert "exists and is not empty" in error(str(source), str(busy))
    assert "is a file" in error(str(source), str(busy / "keep.txt"))
    assert moto(["export", "policy", str(source), str(busy), "--force"]) == 0
    assert (busy / WEIGHTS_FILE).is_file() and (busy / "keep.txt").is_file()
    assert moto(["export", "policy", str(source), str(tmp_path / "empty")]) == 0  # an empty folder is fine


def test_exported_policy_repeats_moto_evals_episode_on_the_real_env(tmp_path, one_thread, monkeypatch):
    """Same seed, same env: the exported policy sends the env the actions `moto eval`'s deterministic
    policy sent, step for step (frames depend on the actions, so the whole loop is compared)."""
    import moto_rl.actors.worker as worker
    from moto_rl.common.envs import make_env
    from moto_rl.deploy.run.eval import EVAL_INDEX, evaluate

    steps = 8
    cfg = tiny_config("task=metaworld/drawer-open", f"env.max_episode_steps={steps}", "seed=3")
    source, _ = pretrain_dir(tmp_path / "pretrain", cfg)
    sent: list[np.ndarray] = []

    def recording_env(env_cfg, seed):
        env = make_env(env_cfg, seed)
        step = env.step
        env.step = lambda action: (sent.append(np.array(action, np.float32)), step(action))[1]
        return env

    monkeypatch.setattr(worker, "_default_env_factory", recording_env)
    result = evaluate(str(source), episodes=1, gifs=0, out=str(tmp_path / "eval"), progress=False)
    assert len(sent) == steps
    assert moto(["export", "policy", str(source), str(tmp_path / "out")]) == 0
    # the torch seed `moto eval`'s worker sets before its first episode (actors/worker.py)
    policy = load_policy(tmp_path / "out", seed=worker.derive_seed(cfg.seed, EVAL_INDEX, 3 << 20, 0))

    seed = result["per_episode"][0]["seed"]
    env = make_env(cfg.env, seed)
    try:
        obs, _ = env.reset(seed=seed)
        policy.reset()
        mine = []
        for _ in range(steps):
            mine.append(policy.act(obs))
            obs, *_ = env.step(mine[-1])
    finally:
        env.close()
    np.testing.assert_allclose(np.array(mine), np.array(sent), rtol=0, atol=1e-6)
    assert np.abs(np.diff(np.array(sent), axis=0)).max() > 1e-3
