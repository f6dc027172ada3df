"""The two GL pitfalls of several MuJoCo envs in one process cannot happen here.

(a) An old env garbage-collected after a newer one made its GL context used to leave the newer env
    rendering all-zero frames. (b) Live envs used to render with whichever context was current last.
Reference frames come from a fresh process holding a single env. Run as a script this module
produces those frames: ``python test_envs_gl.py SCENARIO TASK SEED OUT.npy``.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
OLD = ("metaworld/drawer-open", 0)  # the env that is dropped (a) / interleaved (b)
NEW = ("kitchen/mixed", 1)
STEPS = 4


def _actions(dim: int) -> np.ndarray:
    return np.random.default_rng(7).uniform(-1, 1, (STEPS, dim)).astype(np.float32)


def _make(task_id: str, seed: int):
    from moto_rl.common.envs import make_env
    from moto_rl.common.envs.cli import task_env_config

    return make_env(task_env_config(task_id), seed=seed)


def _episode(env) -> np.ndarray:
    """(1 + STEPS, 64, 64, 3): the reset frame and the frames of fixed actions."""
    frames = [env.reset()[0]]
    frames += [env.step(a)[0] for a in _actions(env.action_space.shape[0])]
    return np.stack(frames)


def _scenario(name: str, task_id: str, seed: int) -> np.ndarray:
    if name == "alone":
        return _episode(_make(task_id, seed))
    if name == "after-old-dropped":
        old = _make(*OLD)
        old.reset()  # the old env's GL context exists before the new env makes its own
        env = _make(task_id, seed)
        first = env.reset()[0]
        del old  # dropped without close(): the garbage collector frees it while the new env is current
        gc.collect()
        rest = [env.step(a)[0] for a in _actions(env.action_space.shape[0])]
        return np.stack([first, *rest])
    raise ValueError(f"unknown scenario {name}")


def _in_fresh_process(scenario: str, task_id: str, seed: int, tmp_path: Path) -> np.ndarray:
    out = tmp_path / f"{scenario}-{task_id.replace('/', '_')}-{seed}.npy"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [sys.executable, __file__, scenario, task_id, str(seed), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(out)


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> dict[tuple[str, int], np.ndarray]:
    tmp = tmp_path_factory.mktemp("gl")
    return {key: _in_fresh_process("alone", *key, tmp) for key in (OLD, NEW)}


def _assert_same_frames(frames: np.ndarray, reference: np.ndarray) -> None:
    assert frames.shape == reference.shape == (1 + STEPS, 64, 64, 3)
    for t, (got, want) in enumerate(zip(frames, reference, strict=False)):
        assert got.max() > 0, f"frame {t} is all black"
        assert np.array_equal(got, want), f"frame {t} differs from the env rendered alone"


def test_reference_frames_are_real(alone) -> None:
    for frames in alone.values():
        assert frames.mean() > 20
        assert not np.array_equal(frames[0], frames[-1])  # the arm moved


def test_dropping_an_old_env_leaves_a_newer_env_rendering(alone, tmp_path) -> None:
    frames = _in_fresh_process("after-old-dropped", *NEW, tmp_path)
    _assert_same_frames(frames, alone[NEW])


def test_interleaved_live_envs_render_as_each_alone(alone) -> None:
    a, b = _make(*OLD), _make(*NEW)
    try:
        frames = {OLD: [a.reset()[0]], NEW: [b.reset()[0]]}
        for act_a, act_b in zip(_actions(4), _actions(9), strict=False):
            frames[OLD].append(a.step(act_a)[0])  # each step renders right after the other env's
            frames[NEW].append(b.step(act_b)[0])
    finally:
        a.close()
        b.close()
    for key in (OLD, NEW):
        _assert_same_frames(np.stack(frames[key]), alone[key])


if __name__ == "__main__":
    scenario, task, seed, path = sys.argv[1:5]
    np.save(path, _scenario(scenario, task, int(seed)))
