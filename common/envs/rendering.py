"""Offscreen rendering that each environment owns: one GL context, one MuJoCo render context.

Two pitfalls of rendering several MuJoCo models in one process are ruled out here:

* **Wrong context.** Only one GL context is current per thread, and MuJoCo draws into whichever is
  current. Every ``render`` makes its own context current first, so live renderers can interleave.
* **Black frames after garbage collection.** Freeing a render context issues GL deletes on the
  *current* context; when the garbage collector frees an old renderer while a newer one is current,
  the newer one's framebuffers are deleted and it renders zeros from then on. Here the garbage
  collector never touches GL: a collected renderer's contexts are parked in ``_PENDING`` and freed
  later, at a safe point (the next render, close or ``make_env``), with *their own* context current.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

# (gl_context, mjr_context) pairs of collected renderers, waiting to be freed at a safe point.
_PENDING: list[tuple[Any, Any]] = []
_LIVE: weakref.WeakSet[Renderer] = weakref.WeakSet()
_ATEXIT_REGISTERED = False
_LOCK = threading.RLock()  # only taken outside the garbage collector's callbacks


@dataclass(frozen=True)
class FreeCamera:
    """A camera placed by orbit parameters around a look-at point (MuJoCo's free camera)."""

    distance: float
    azimuth: float
    elevation: float
    lookat: tuple[float, float, float]


@dataclass(frozen=True)
class ModelCamera:
    """A camera defined in the model XML, by name."""

    name: str


Camera = FreeCamera | ModelCamera


def _free_pair(gl_context: Any, mjr_context: Any) -> None:
    """Free a render context with its own GL context current, then the GL context itself."""
    try:
        gl_context.make_current()
        mjr_context.free()
    finally:
        gl_context.free()  # also makes no context current; every render makes its own current again


def release_pending() -> None:
    """Free the GL resources of renderers the garbage collector has dropped. Safe to call any time
    outside the garbage collector (it is called by every render, close and ``make_env``)."""
    with _LOCK:
        while _PENDING:
            try:
                gl_context, mjr_context = _PENDING.pop()
            except IndexError:  # emptied concurrently
                break
            try:
                _free_pair(gl_context, mjr_context)
            except Exception:  # a context current in another thread cannot be freed here: leak it
                pass


def _park(gl_context: Any, mjr_context: Any) -> None:
    # Runs inside the garbage collector: no GL calls, no locks; list.append is atomic under the GIL.
    _PENDING.append((gl_context, mjr_context))


def _close_all_at_exit() -> None:
    for renderer in list(_LIVE):
        renderer.close()
    release_pending()


class Renderer:
    """Renders one ``mujoco.MjModel``/``MjData`` pair to upright ``(height, width, 3)`` uint8 images.

    ``fast=True`` (the default of ``EnvConfig.fast_render``) turns off MSAA, shadows and reflections and
    shrinks the offscreen buffer to the image size; about 8x faster on a software renderer, same content.
    Set before the render context exists, because MuJoCo sizes its buffers when the context is made.
    """

    def __init__(self, model: mujoco.MjModel, width: int, height: int, camera: Camera, fast: bool = True) -> None:
        global _ATEXIT_REGISTERED
        release_pending()
        self._model = model
        self._width, self._height = width, height
        if fast:
            model.vis.quality.offsamples = 0
            model.vis.global_.offwidth = width
            model.vis.global_.offheight = height
        else:
            model.vis.global_.offwidth = max(width, model.vis.global_.offwidth)
            model.vis.global_.offheight = max(height, model.vis.global_.offheight)

        self._scene = mujoco.MjvScene(model, maxgeom=10_000)
        self._option = mujoco.MjvOption()
        if fast:
            self._scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            self._scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        self._camera = mujoco.MjvCamera()
        self._camera_id = -1
        if isinstance(camera, FreeCamera):
            self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
            self._camera.distance = camera.distance
            self._camera.azimuth = camera.azimuth
            self._camera.elevation = camera.elevation
            self._camera.lookat[:] = camera.lookat
        else:
            self._camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera.name)
            if self._camera_id < 0:
                names = [model.camera(i).name for i in range(model.ncam)]
                raise ValueError(f"camera '{camera.name}' is not in the model; its cameras are: {', '.join(names)}")
            self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
            self._camera.fixedcamid = self._camera_id
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._buffer = np.empty((height, width, 3), dtype=np.uint8)

        if mujoco.gl_context.GLContext is None:
            raise RuntimeError("mujoco has no GL backend: set MUJOCO_GL=egl (or osmesa) before importing mujoco.")
        self._gl_context = mujoco.gl_context.GLContext(width, height)
        self._gl_context.make_current()
        self._mjr_context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._mjr_context)
        # The finalizer holds the contexts (not self): when self is collected they are parked, not freed.
        self._finalizer = weakref.finalize(self, _park, self._gl_context, self._mjr_context)
        self._finalizer.atexit = False  # at exit `_close_all_at_exit` frees them properly instead
        with _LOCK:
            _LIVE.add(self)
            if not _ATEXIT_REGISTERED:
                # Registered after the first GL context, so it runs before the EGL display is terminated.
                atexit.register(_close_all_at_exit)
                _ATEXIT_REGISTERED = True

    @property
    def closed(self) -> bool:
        return self._mjr_context is None

    def camera_up_is_down(self, data: mujoco.MjData) -> bool:
        """True when a model camera's image 'up' points to the world's floor (MetaWorld's corner cameras),
        so its frames must be rotated by 180 degrees to be upright."""
        if self._camera_id < 0:
            return False
        up_world = data.cam_xmat[self._camera_id].reshape(3, 3)[:, 1]  # camera y axis in world frame
        return bool(up_world[2] < 0)

    def render(self, data: mujoco.MjData) -> np.ndarray:
        """The current frame of ``data``, top row first, as a new ``(height, width, 3)`` uint8 array."""
        if self._mjr_context is None:
            raise RuntimeError("render() called after close(); create a new environment.")
        release_pending()
        self._gl_context.make_current()
        mujoco.mjv_updateScene(
            self._model, data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL, self._scene
        )
        mujoco.mjr_render(self._rect, self._scene, self._mjr_context)
        mujoco.mjr_readPixels(self._buffer, None, self._rect, self._mjr_context)
        return self._buffer[::-1].copy()  # OpenGL rows start at the bottom

    def close(self) -> None:
        """Free the GL resources now (idempotent)."""
        if self._mjr_context is None:
            return
        self._finalizer.detach()
        gl_context, mjr_context = self._gl_context, self._mjr_context
        self._gl_context = self._mjr_context = None
        with _LOCK:
            _LIVE.discard(self)
            _free_pair(gl_context, mjr_context)
        release_pending()
