"""MetaWorld's scripted experts as a worker ``Agent``, for generating offline demonstrations.

The expert reads the 39-dim state that the env puts in ``info["state"]``; it is queried at every
agent step on the latest state (with action repeat 2 the env repeats that action internally), and
its action is clipped to the [-1, 1] action box. Episodes it produces are stored with
``source="offline"`` and ``policy_version=-1``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.errors import UserError
from common.tasks import task_spec


def make_expert(task_id: str) -> Any:
    """A fresh MetaWorld scripted policy for ``task_id`` (e.g. "metaworld/drawer-open")."""
    spec = task_spec(task_id)
    if not spec.has_scripted_expert:
        raise UserError(
            f"no scripted expert for {task_id}: only MetaWorld tasks have one. Import a dataset instead "
            "(D4RL-format HDF5 or a local Minari dataset) into the offline store, e.g. with `moto store import`, "
            "and point storage.offline_url at it."
        )
    from metaworld.policies import ENV_POLICY_MAP

    name = f"{spec.name}-v3"
    if name not in ENV_POLICY_MAP:
        raise UserError(f"metaworld has no scripted policy for {name}")
    return ENV_POLICY_MAP[name]()



class ScriptedAgent:
    """One expert instance per env (experts are stateless today, but cheap to keep separate)."""

    version = -1

    def __init__(self, task_id: str, n_envs: int):
        self.experts = [make_expert(task_id) for _ in range(n_envs)]

    def load(self, version: int, weights: Any) -> None:
        raise RuntimeError("a scripted agent has no weights to load")

    def act(self, images: np.ndarray, infos: Sequence[dict], is_first: np.ndarray, deterministic: bool) -> np.ndarray:
        actions = []
        for expert, info in zip(self.experts, infos, strict=True):
            if info is None:  # an idle env slot this round (fewer episodes left than envs)
                actions.append(np.zeros(4))
                continue
            if "state" not in info:
                raise KeyError("scripted experts need info['state'] (the 39-dim MetaWorld observation) from the env")
            with warnings.catch_warnings():  # "Constant(s) may be too high": the experts rely on clipping, as we do
                warnings.simplefilter("ignore", UserWarning)
                actions.append(expert.get_action(np.asarray(info["state"], dtype=np.float64)))
        return np.clip(np.asarray(actions, dtype=np.float32), -1.0, 1.0)
