"""One whole trajectory, as actors produce it and the store keeps it, and what a worker reports of it.

Time alignment (DreamerV2's): index t holds the frame x_t, the action that *led to* it, the reward
received on reaching it, and flags. Row 0 is the reset frame with a zero action and zero reward, so
an episode of T agent steps has T+1 rows in every array.

Three kinds of success, three names: ``Episode.step_success`` is the env's per-step flag (T+1,);
``EpisodeMeta.success`` / ``EpisodeStats.success`` is the episode's flag (reached at some step: the
BC filter criterion); ``moto_rl.common.batch.Batch.bc_filter`` is the learner's per-step mask f built from it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class EpisodeMeta:
    task: str  # task id, e.g. "metaworld/drawer-open"
    source: str  # "offline" (a dataset or scripted demos) | "online" (a rollout worker) | "eval"
    policy_version: int = -1  # learner weight version the actor acted with (-1: scripted / dataset)
    seed: int = -1  # env seed of the episode's reset
    worker: str = ""  # who wrote it (worker name, importer)
    success: bool = False  # goal achieved at any step (MetaWorld) / all filter objects done (Kitchen)
    completion: dict[str, bool] = field(default_factory=dict)  # kitchen: object -> completed at some step
    created: float = field(default_factory=time.time)  # unix time

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Episode:
    image: np.ndarray  # (T+1, H, W, 3) uint8
    action: np.ndarray  # (T+1, A) float32; action[0] = 0, action[t] led to image[t]
    reward: np.ndarray  # (T+1,) float32; reward[0] = 0
    is_terminal: np.ndarray  # (T+1,) bool; true where the env terminated (not truncated)
    step_success: np.ndarray  # (T+1,) bool; the env's per-step success flag
    meta: EpisodeMeta

    @property
    def length(self) -> int:
        """Agent steps T (the arrays have T+1 rows)."""
        return int(self.image.shape[0]) - 1

    @property
    def episode_return(self) -> float:
        return float(self.reward.sum())

    @property
    def is_first(self) -> np.ndarray:  # (T+1,) bool; derived, not stored (the sampler builds its own)
        flags = np.zeros(self.length + 1, dtype=bool)
        flags[0] = True
        return flags

    def validate(self) -> None:
        """Raise ValueError naming the array whose shape or dtype is wrong."""
        n = self.image.shape[0]
        if self.image.ndim != 4 or self.image.shape[-1] != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"episode image must be (T+1, H, W, 3) uint8, got {self.image.shape} {self.image.dtype}")
        if n < 2:
            raise ValueError(f"episode needs at least one step (2 frames), got {n} frame(s)")
        for name, arr, ndim in (
            ("action", self.action, 2),
            ("reward", self.reward, 1),
            ("is_terminal", self.is_terminal, 1),
            ("step_success", self.step_success, 1),
        ):
            if arr.ndim != ndim or arr.shape[0] != n:
                raise ValueError(f"episode {name} must have {n} rows ({ndim}-d) to match image, got shape {arr.shape}")


class EpisodeBuilder:
    """Collects reset/step results of one env into an ``Episode``."""

    def __init__(self, action_dim: int):
        self.action_dim = action_dim
        self.images: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.terminals: list[bool] = []
        self.step_successes: list[bool] = []
        self.completion: dict[str, bool] = {}

    def reset(self, obs: np.ndarray, info: dict) -> None:
        self.__init__(self.action_dim)  # type: ignore[misc]
        self._add(obs, np.zeros(self.action_dim, np.float32), 0.0, False, info)

    def step(self, action: np.ndarray, obs: np.ndarray, reward: float, terminated: bool, info: dict) -> None:
        self._add(obs, np.asarray(action, np.float32), reward, terminated, info)

    def _add(self, obs: np.ndarray, action: np.ndarray, reward: float, terminal: bool, info: dict) -> None:
        self.images.append(obs)
        self.actions.append(action)
        self.rewards.append(float(reward))
        self.terminals.append(bool(terminal))
        self.step_successes.append(bool(info.get("success", False)))
        for name, done in info.get("completion", {}).items():
            self.completion[name] = self.completion.get(name, False) or bool(done)

    def build(self, meta: EpisodeMeta, success: bool | None = None) -> Episode:
        """``success`` defaults to "the per-step flag was true at any step"."""
        meta.success = bool(any(self.step_successes)) if success is None else bool(success)
        meta.completion = dict(self.completion)
        episode = Episode(
            image=np.stack(self.images).astype(np.uint8),
            action=np.stack(self.actions).astype(np.float32),
            reward=np.asarray(self.rewards, np.float32),
            is_terminal=np.asarray(self.terminals, bool),
            step_success=np.asarray(self.step_successes, bool),
            meta=meta,
        )
        episode.validate()
        return episode


@dataclass
class EpisodeStats:
    """What a rollout worker reports of one finished episode (the episode itself goes to the store)."""

    episode_id: str | None  # its id in the store; None when not stored (evaluation)
    episode_return: float
    success: bool  # the episode's flag, as EpisodeMeta.success
    length: int  # agent steps T
    policy_version: int  # weight version that chose its first action (-1: scripted)
    policy_version_end: int  # weight version loaded when it ended (differs with weight_sync="steps")
    env_steps: int  # this worker's agent steps so far, over all its episodes
    seconds: float  # wall time of the round of episodes it was played in
    worker: str
    seed: int  # env seed of its reset
    source: str  # "offline" | "online" | "eval"
    completion: dict[str, bool] = field(default_factory=dict)  # kitchen: object -> completed at some step
    frames: np.ndarray | None = None  # (T+1, H, W, 3) uint8 when frames were recorded (a video), else None
