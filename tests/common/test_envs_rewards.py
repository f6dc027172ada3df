"""Rewards and success of the pixel envs: MetaWorld's sparse success reward, Kitchen's object count."""

from __future__ import annotations

import numpy as np
import pytest

from common.envs import make_env
from common.envs.cli import task_env_config


@pytest.fixture(scope="module")
def kitchen_envs():
    envs = {task: make_env(task_env_config(task), seed=0) for task in ("kitchen/mixed", "kitchen/partial")}
    yield envs
    for env in envs.values():
        env.close()


def test_scripted_expert_on_info_state_earns_the_sparse_reward() -> None:
    from metaworld.policies import ENV_POLICY_MAP

    env = make_env(task_env_config("metaworld/drawer-open"), seed=0)
    policy = ENV_POLICY_MAP["drawer-open-v3"]()
    try:
        _, info = env.reset(seed=0)
        assert info["state"].shape == (39,)
        rewards, successes = [], []
        truncated = False
        while not truncated:
            action = np.clip(policy.get_action(info["state"]), -1, 1).astype(np.float32)
            _, reward, _, truncated, info = env.step(action)
            rewards.append(reward)
            successes.append(info["success"])
    finally:
        env.close()
    assert len(rewards) == 100
    assert any(successes), "the scripted expert never succeeded from info['state']"
    assert rewards == [float(s) for s in successes]


def _place(env, objects: tuple[str, ...]) -> None:
    """Put kitchen objects in their goal configuration in the simulator."""
    from gymnasium_robotics.envs.franka_kitchen.kitchen_env import OBS_ELEMENT_GOALS, OBS_ELEMENT_INDICES

    qpos = env.unwrapped._data.qpos.copy()
    for name in objects:
        qpos[OBS_ELEMENT_INDICES[name]] = OBS_ELEMENT_GOALS[name]
    env.unwrapped.set_state(qpos, np.zeros_like(env.unwrapped._data.qvel))


@pytest.mark.parametrize(
    "task,placed,success",
    [
        ("kitchen/mixed", (), False),
        ("kitchen/mixed", ("microwave", "light switch"), False),
        ("kitchen/mixed", ("microwave", "kettle", "light switch", "slide cabinet"), True),
        ("kitchen/partial", ("microwave", "kettle", "bottom burner"), True),  # partial's filter: first three
        ("kitchen/partial", ("microwave", "kettle", "slide cabinet"), False),  # slide cabinet is no target here
    ],
)
def test_kitchen_reward_counts_target_objects_in_place(kitchen_envs, task, placed, success) -> None:
    env = kitchen_envs[task]
    env.reset(seed=0)
    _place(env, placed)
    zero = np.zeros(9, np.float32)
    _, reward, _, _, info = env.step(zero)
    assert reward == float(sum(o in placed for o in env.task.objects))
    assert info["completion"] == {o: o in placed for o in env.task.objects}
    assert info["success"] is success
    # Objects in place keep counting at every step (none is dropped once completed).
    _, again, _, _, _ = env.step(zero)
    assert again == reward
