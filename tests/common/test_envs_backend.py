"""GL backend selection and render settings of the pixel envs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from moto_rl.common.envs import make_env, set_gl_backend
from moto_rl.common.envs.cli import task_env_config
from moto_rl.common.errors import UserError

MW = "metaworld/drawer-open"


@pytest.fixture(scope="module")
def mw_env():
    env = make_env(task_env_config(MW), seed=0)
    yield env
    env.close()


def test_gl_backend_cannot_change_after_mujoco_import(mw_env) -> None:
    set_gl_backend("egl")  # the backend in use: fine
    with pytest.raises(UserError, match="MUJOCO_GL=osmesa"):
        set_gl_backend("osmesa")
    with pytest.raises(UserError, match="egl"):
        set_gl_backend("vulkan")


def test_default_look_shows_the_same_scene_and_closing_it_leaves_others_rendering(mw_env) -> None:
    acts = np.random.default_rng(5).uniform(-1, 1, (3, 4)).astype(np.float32)
    ref = [mw_env.reset(seed=9)[0]] + [mw_env.step(a)[0] for a in acts]
    default = make_env(dataclasses.replace(task_env_config(MW), fast_render=False), seed=0)
    try:
        slow, _ = default.reset(seed=9)
    finally:
        default.close()
        default.close()  # idempotent
    diff = np.abs(slow.astype(int) - ref[0].astype(int)).mean()
    assert 0 < diff < 20, f"fast and default looks differ by {diff:.1f} per pixel: not the same scene?"
    again = [mw_env.reset(seed=9)[0]] + [mw_env.step(a)[0] for a in acts]
    np.testing.assert_array_equal(np.stack(again), np.stack(ref))
