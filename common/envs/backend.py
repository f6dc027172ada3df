"""Choosing the headless OpenGL backend: MuJoCo reads ``MUJOCO_GL`` once, when it is first imported."""

from __future__ import annotations

import os
import sys

from moto_rl.common.errors import UserError

BACKENDS = ("egl", "osmesa", "glfw")


def _active_backend() -> str | None:
    """The backend the imported mujoco actually uses, or None when mujoco is not imported yet."""
    gl_context = sys.modules.get("mujoco.gl_context")
    if gl_context is None:
        return None
    cls = getattr(gl_context, "GLContext", None)
    if cls is None:
        return "none"
    return cls.__module__.rsplit(".", 1)[-1]  # mujoco.egl.GLContext -> "egl"


def set_gl_backend(backend: str) -> None:
    """Select MuJoCo's GL backend (egl | osmesa | glfw) before mujoco is imported.

    Sets ``MUJOCO_GL`` and ``PYOPENGL_PLATFORM``. When mujoco is already imported with another backend
    nothing can switch it any more, so this raises and says how to fix it.
    """
    backend = backend.lower()
    if backend not in BACKENDS:
        raise UserError(
            f"unknown GL backend '{backend}': use one of {', '.join(BACKENDS)} (env.gl_backend / MUJOCO_GL)."
        )
    active = _active_backend()
    if active is None and "mujoco" not in sys.modules:
        os.environ["MUJOCO_GL"] = backend
        if backend in ("egl", "osmesa"):
            os.environ["PYOPENGL_PLATFORM"] = backend
        return
    if active is None:  # mujoco is half-imported (we are inside its import); trust the variable
        active = os.environ.get("MUJOCO_GL", "glfw").lower()
    if active != backend:
        raise UserError(
            f"mujoco is already imported with GL backend '{active}', so '{backend}' cannot be used in this "
            f"process. Set MUJOCO_GL={backend} (and PYOPENGL_PLATFORM) in the environment, or call "
            "moto_rl.common.envs.set_gl_backend() before anything imports mujoco, metaworld or gymnasium_robotics."
        )
