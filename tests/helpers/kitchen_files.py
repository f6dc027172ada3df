"""Small kitchen datasets of the exact D4RL and Minari layouts, built from simulator rollouts (helpers)."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np
import pytest

STEPS = 6  # agent steps per episode: rendering costs ~25 ms a frame on CPU
PARTIAL_ONLY = ("microwave", "kettle", "bottom burner")  # partial's BC objects, not mixed's 4
MIXED_ALL = ("microwave", "kettle", "light switch", "slide cabinet")


@dataclass
class KitchenRollouts:
    qpos: list[np.ndarray]  # per episode (T+1, 30): exact simulator states
    qvel: list[np.ndarray]  # (T+1, 29)
    obs59: list[np.ndarray]  # (T+1, 59): the env's own (noisy) observation
    actions: list[np.ndarray]  # (T, 9)
    frames: list[np.ndarray]  # (T+1, 64, 64, 3) rendered live during the rollout


def _place(qpos: np.ndarray, objects: tuple[str, ...]) -> None:
    from gymnasium_robotics.envs.franka_kitchen.kitchen_env import OBS_ELEMENT_GOALS, OBS_ELEMENT_INDICES

    for obj in objects:
        qpos[OBS_ELEMENT_INDICES[obj]] = OBS_ELEMENT_GOALS[obj]


@pytest.fixture(scope="session")
def kitchen_rollouts() -> KitchenRollouts:
    """Three random-action episodes. From step 3 on, episode 1 has partial's three BC objects in
    place (not slide cabinet) and episode 2 all four mixed objects: states written into the simulator,
    so the recorded obs, states and frames all agree."""
    from moto_rl.common.config_loading import load_config
    from moto_rl.common.envs import make_env

    env = make_env(load_config(["task=kitchen/mixed"]).env, seed=0)
    out = KitchenRollouts([], [], [], [], [])
    rng = np.random.default_rng(0)
    for ep, placed in enumerate(((), PARTIAL_ONLY, MIXED_ALL)):
        frame, info = env.reset(seed=ep)
        qs, vs, obs, frames, acts = [], [], [], [], []
        for t in range(STEPS + 1):
            if t > 0:
                a = rng.uniform(-1, 1, 9).astype(np.float32)
                frame, _, _, _, info = env.step(a)
                acts.append(a)
            if t >= 3 and placed:
                q = env._data.qpos.copy()
                _place(q, placed)
                frame = env.set_state(q, env._data.qvel.copy())
                obs_t = np.concatenate([q[:9], env._data.qvel[:9], q[9:], env._data.qvel[9:]])
            else:
                obs_t = info["state"]
            qs.append(env._data.qpos.copy())
            vs.append(env._data.qvel.copy())
            obs.append(np.asarray(obs_t, np.float64))
            frames.append(frame.copy())
        out.qpos.append(np.stack(qs))
        out.qvel.append(np.stack(vs))
        out.obs59.append(np.stack(obs))
        out.actions.append(np.stack(acts))
        out.frames.append(np.stack(frames))
    env.close()
    del env
    gc.collect()
    return out


def write_d4rl_kitchen(path, r: KitchenRollouts, infos: bool = True) -> None:
    """D4RL layout: flat rows, observations (N, 60) = robot qpos 9, object qpos 21, goal 30."""
    import h5py

    obs = np.concatenate([np.concatenate([q, np.zeros((len(q), 30))], axis=1) for q in r.qpos])
    # D4RL stores one action per row; the last row of each episode gets a (dropped) extra action.
    acts = np.concatenate([np.concatenate([a, np.zeros((1, 9), np.float32)]) for a in r.actions])
    ends = np.concatenate([np.eye(1, len(q), len(q) - 1, dtype=bool)[0] for q in r.qpos])
    with h5py.File(path, "w") as f:
        f["observations"] = obs
        f["actions"] = acts
        f["rewards"] = np.zeros(len(obs), np.float32)
        f["terminals"] = np.zeros(len(obs), bool)
        f["timeouts"] = ends
        if infos:
            f["infos/qpos"] = np.concatenate(r.qpos)
            f["infos/qvel"] = np.concatenate(r.qvel)


def write_minari_kitchen(root, r: KitchenRollouts, monkeypatch) -> str:
    """A dataset written by minari's own writer; returns its directory (holding data/)."""
    import gymnasium as gym
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    space = gym.spaces.Dict({"observation": gym.spaces.Box(-np.inf, np.inf, (59,), np.float64)})
    buffers = [
        EpisodeBuffer(
            id=i,
            seed=i,
            observations={"observation": o},
            actions=a.astype(np.float64),
            rewards=[0.0] * len(a),
            terminations=[False] * len(a),
            truncations=[False] * (len(a) - 1) + [True],
        )
        for i, (o, a) in enumerate(zip(r.obs59, r.actions, strict=True))
    ]
    with pytest.warns(UserWarning):  # minari asks for author and description metadata
        ds = minari.create_dataset_from_buffers(
            "test/kitchen-tiny-v0",
            buffers,
            env="FrankaKitchen-v1",
            observation_space=space,
            action_space=gym.spaces.Box(-1, 1, (9,), np.float64),
            algorithm_name="random",
        )
    return str(root / "test" / "kitchen-tiny-v0") if ds else ""


def live_frames(task: str, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """Frames a fresh live env shows at these states."""
    from moto_rl.common.config_loading import load_config
    from moto_rl.common.envs import make_env

    env = make_env(load_config([f"task={task}"]).env, seed=0)
    try:
        return np.stack([env.set_state(q, v) for q, v in zip(qpos, qvel, strict=True)])
    finally:
        env.close()
