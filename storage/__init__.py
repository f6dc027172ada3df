"""Trajectory storage: a concurrent, crash-safe Zarr store of whole episodes and the learner's sampler.

``Sampler`` is imported lazily so that writers (rollout workers, spawned processes) need no torch.
"""

from moto_rl.storage.errors import CorruptEpisode, StoreError
from moto_rl.storage.store import TrajectoryStore

__all__ = ["TrajectoryStore", "Sampler", "StoreError", "CorruptEpisode"]


def __getattr__(name: str):
    if name == "Sampler":
        from moto_rl.storage.sampler import Sampler

        return Sampler
    raise AttributeError(f"module 'storage' has no attribute {name!r}")
