"""Pixel environments: ``make_env(cfg.env, seed)`` gives a gymnasium env of 64x64 uint8 frames.

Nothing here imports mujoco at import time: MuJoCo reads ``MUJOCO_GL`` once, when first imported, so
``make_env`` selects the backend (``MUJOCO_GL`` if set, else ``cfg.gl_backend``, default egl) first.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from moto_rl.common.envs.backend import set_gl_backend
from moto_rl.common.tasks import task_spec

if TYPE_CHECKING:
    from moto_rl.common.config import EnvConfig
    from moto_rl.common.envs.base import PixelEnv

__all__ = ["make_env", "set_gl_backend"]


def make_env(cfg_env: EnvConfig, seed: int | None = 0) -> PixelEnv:
    """Build the environment of ``cfg_env.task``; an unknown task raises ``UnknownTaskError``.

    ``seed`` fixes the env's RNG stream: the same seed gives the same episodes (frames and states).
    """
    spec = task_spec(cfg_env.task)
    set_gl_backend(os.environ.get("MUJOCO_GL") or cfg_env.gl_backend)
    from moto_rl.common.envs.rendering import release_pending

    release_pending()  # free GL resources of envs collected since the last render
    if spec.suite == "metaworld":
        from moto_rl.common.envs.metaworld import MetaWorldEnv

        return MetaWorldEnv(cfg_env, spec, seed)
    from moto_rl.common.envs.kitchen import KitchenEnv

    return KitchenEnv(cfg_env, spec, seed)
