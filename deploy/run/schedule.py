"""The offline -> online schedule as plain counters (paper Algorithm 1), independent of Ray.

Offline: ``offline_steps`` gradient steps. Online: every collected episode makes
``updates_per_episode`` (G) more gradient steps due, however many workers collect, and collection
stops at ``ceil(online_steps / G)`` episodes so that a run ends with the same counters whether it ran
straight through or was resumed. Workers may run ahead of the learner by at most ``max_backlog``
episodes, which keeps the update-to-data ratio honest when the learner is slower than the fleet.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from moto_rl.common.config import ScheduleConfig


@dataclass
class ScheduleState:
    offline_done: int = 0  # gradient steps done in the offline phase
    online_done: int = 0  # gradient steps done in the online phase
    episodes: int = 0  # online episodes committed to the store
    env_steps: int = 0  # agent steps in those episodes
    offline_imported: bool = False  # demos copied into the run's store
    evals: list[dict] = field(default_factory=list)  # [{env_steps, episodes, success_rate, return}] curve
    episode_curve: list[list[float]] = field(default_factory=list)  # [env_steps, success, return] per online episode
    wall_seconds: float = 0.0  # the run's wall time up to this state's checkpoint, over every resume

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ScheduleState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})  # older checkpoints may carry more keys


class Schedule:
    def __init__(self, cfg: ScheduleConfig, num_workers: int, state: ScheduleState | None = None):
        if cfg.updates_per_episode < 1:
            raise ValueError("schedule.updates_per_episode must be >= 1")
        if cfg.eval_episodes < 1 or cfg.final_eval_episodes < 0:
            raise ValueError("schedule.eval_episodes must be >= 1 and schedule.final_eval_episodes >= 0 (0: as many)")
        self.cfg = cfg
        self.state = state or ScheduleState()
        self.target_episodes = math.ceil(cfg.online_steps / cfg.updates_per_episode)
        self.max_backlog = max(1, num_workers)

    # offline phase -------------------------------------------------------------------------
    @property
    def offline_remaining(self) -> int:
        return max(0, self.cfg.offline_steps - self.state.offline_done)

    # online phase --------------------------------------------------------------------------
    @property
    def online_due(self) -> int:
        """Gradient steps owed by the learner for the episodes collected so far."""
        return self.state.episodes * self.cfg.updates_per_episode - self.state.online_done

    def episodes_to_start(self, in_flight: int, batch: int) -> int:
        """How many episodes (at most ``batch``) a worker may start now, given ``in_flight`` already
        running: only what the run still needs, and none while the learner is too far behind."""
        needed = self.target_episodes - self.state.episodes - in_flight
        backlog_episodes = self.online_due / self.cfg.updates_per_episode
        if needed <= 0 or backlog_episodes + in_flight >= (self.max_backlog + 1) * batch:
            return 0
        return min(batch, needed)

    def record_episode(self, length: int) -> bool:
        """Count a committed episode; returns True when an evaluation is due after it."""
        self.state.episodes += 1
        self.state.env_steps += length
        every = self.cfg.eval_every_episodes
        return every > 0 and self.state.episodes % every == 0

    def eval_episodes(self) -> int:
        """Episodes of an evaluation launched now: ``final_eval_episodes`` once every online episode is in."""
        final = self.cfg.final_eval_episodes
        return final if final and self.state.episodes >= self.target_episodes else self.cfg.eval_episodes

    def record_updates(self, n: int, offline: bool) -> None:
        if offline:
            self.state.offline_done += n
        else:
            self.state.online_done += n

    @property
    def finished(self) -> bool:
        return self.offline_remaining == 0 and self.state.episodes >= self.target_episodes and self.online_due <= 0

    @property
    def learner_steps(self) -> int:
        return self.state.offline_done + self.state.online_done
