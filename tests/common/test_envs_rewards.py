"""MetaWorld's sparse success reward, earned by the scripted expert acting on ``info["state"]``.

(Kitchen's object-count reward is tested in test_envs_kitchen.py.)
"""

from __future__ import annotations

import numpy as np

from moto_rl.common.envs import make_env
from moto_rl.common.envs.cli import task_env_config


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
