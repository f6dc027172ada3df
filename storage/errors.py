"""Store errors: every message names the store or episode and says what to do."""

from __future__ import annotations

from moto_rl.common.errors import UserError


class StoreError(UserError):
    """A missing, foreign or too-new store, a bad episode handed to ``append``, an unknown id."""


class CorruptEpisode(StoreError):
    """A committed episode whose stored data fails its checksums or lengths."""

    def __init__(self, episode_id: str, problem: str):
        self.episode_id = episode_id
        super().__init__(f"episode {episode_id} is corrupt: {problem}")
