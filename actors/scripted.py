"""Scripted experts (MetaWorld's, and ours for Franka Kitchen) as a worker ``Agent``, for demonstrations.

The expert reads the state that the env puts in ``info["state"]`` (39-dim MetaWorld, 59-dim
Kitchen); it is queried at every agent step on the latest state (with action repeat 2 the env
repeats that action internally), and its action is clipped to the [-1, 1] action box. Episodes it
produces are stored with ``source="offline"`` and ``policy_version=-1``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from moto_rl.common.errors import UserError
from moto_rl.common.tasks import task_spec


def make_expert(task_id: str) -> Any:
    """A fresh scripted policy for ``task_id``: MetaWorld's own, or our Franka Kitchen demonstrator."""
    spec = task_spec(task_id)
    if spec.suite == "kitchen":
        from moto_rl.actors.kitchen_expert import ALL_OBJECTS, KitchenExpert

        # The task's objects in order, then the others: leftover time still shows useful behaviour.
        return KitchenExpert([*spec.objects, *(o for o in ALL_OBJECTS if o not in spec.objects)])
    from metaworld.policies import ENV_POLICY_MAP

    name = f"{spec.name}-v3"
    if name not in ENV_POLICY_MAP:
        raise UserError(f"metaworld has no scripted policy for {name}")
    return ENV_POLICY_MAP[name]()


class ScriptedAgent:
    """One expert instance per env (the kitchen expert keeps a plan; it is reset on each episode's first step)."""

    version = -1

    def __init__(self, task_id: str, n_envs: int):
        self.experts = [make_expert(task_id) for _ in range(n_envs)]
        self.action_dim = task_spec(task_id).action_dim

    def load(self, version: int, weights: Any) -> None:
        raise RuntimeError("a scripted agent has no weights to load")

    def act(self, images: np.ndarray, infos: Sequence[dict], is_first: np.ndarray, deterministic: bool) -> np.ndarray:
        actions = []
        for expert, info in zip(self.experts, infos, strict=True):
            if info is None:  # an idle env slot this round (fewer episodes left than envs)
                actions.append(np.zeros(self.action_dim))
                continue
            if "state" not in info:
                raise KeyError("scripted experts need info['state'] (the env's state vector) from the env")
            if is_first[len(actions)] and hasattr(expert, "reset"):
                expert.reset()  # the kitchen expert remembers its plan across steps
            with warnings.catch_warnings():  # "Constant(s) may be too high": the experts rely on clipping, as we do
                warnings.simplefilter("ignore", UserWarning)
                actions.append(expert.get_action(np.asarray(info["state"], dtype=np.float64)))
        return np.clip(np.asarray(actions, dtype=np.float32), -1.0, 1.0)
