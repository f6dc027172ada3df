"""A scripted Franka Kitchen demonstrator: completes kitchen objects one after another from the state.

The expert keeps its own copy of the kitchen model; each step it loads the 59-dim observation
(``info["state"]``) into it, reads the end-effector and handle/knob sites, and tracks a list of
waypoints per object with damped-least-squares IK (position + orientation). The env turns an action
``a`` into a joint position target ``q_obs + 2 a dt`` (dt = 0.08 s), so a joint step ``dq`` is the
action ``dq / (2 dt)``. Each primitive overshoots its goal a little (objects spring back); when its waypoints run out,
or as soon as the object is well inside its goal region (half the env's threshold), the expert backs off and moves
on to the next object that is not yet in its goal configuration. A waypoint that the hand stops getting closer to
(blocked by contact or the arm's reach) is dropped after a few steps rather than after its ``max_steps``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import mujoco
import numpy as np

from moto_rl.common.envs.kitchen import goal_distance, goal_reached, split_state
from moto_rl.common.envs.robotics import BONUS_THRESH, franka_env

MODEL_XML = os.path.join(
    os.path.dirname(franka_env.__file__), "../assets/kitchen_franka/kitchen_assets/kitchen_env_model.xml"
)
DT = 0.08  # seconds per env step (frame_skip 40 x 2 ms)
ACT_SCALE = 2.0  # rad/s per unit action (FrankaRobot.act_rng)
TRACK_GAIN = 1.8  # the position actuators cover about half of a commanded joint step per env step
MAX_STEP = 0.035  # metres the end effector may move per env step
OPEN, CLOSE = 1.0, -1.0
STALL_STEPS, STALL_GAIN = 6, 0.01  # a waypoint is given up when 6 steps brought it less than 1 cm closer (blocked)
FINISH_FRAC = 0.5  # an object closer to its goal than this fraction of the env's threshold is done: move on
ALL_OBJECTS = ("microwave", "kettle", "light switch", "slide cabinet", "bottom burner", "top burner", "hinge cabinet")


@dataclass(frozen=True)
class Waypoint:
    pos: np.ndarray  # end-effector target (world, metres)
    grip: float = OPEN  # finger command held while moving there
    roll: float = 0.0  # rotation (rad) about world +y, the gripper's pointing axis at the start pose
    yaw: float = 0.0  # rotation (rad) about world +z
    tol: float = 0.025  # metres: close enough to move on
    max_steps: int = 25  # give up on this waypoint after this many steps (blocked by contact)
    step: float = 0.0  # metres the target may lead the end effector per env step (0: MAX_STEP); more lead pushes harder


Sites = Callable[[str], np.ndarray]


def _arc(
    hinge: np.ndarray, point: np.ndarray, angle: float, n: int, grip: float, yaw_sign: float = 1.0
) -> list[Waypoint]:
    """Waypoints that carry ``point`` around a vertical hinge axis by ``angle`` radians."""
    out = []
    for k in range(1, n + 1):
        t = angle * k / n
        c, s = np.cos(t), np.sin(t)
        d = point - hinge
        p = hinge + np.array([c * d[0] - s * d[1], s * d[0] + c * d[1], d[2]])
        out.append(Waypoint(p, grip, yaw=yaw_sign * t, max_steps=8))
    return out


# -- per-object motion primitives: waypoints computed once from the sites at the start --------------
def microwave(site: Sites) -> list[Waypoint]:
    h = site("microhandle_site")  # vertical bar on the door; the door hinges about z at x = -1.128
    hinge = np.array([-1.128, 0.455, h[2]])
    grasp = h + [0.0, -0.005, 0.0]
    return [
        Waypoint(h + [0, -0.15, 0]),
        Waypoint(grasp, tol=0.01),
        Waypoint(grasp, CLOSE, max_steps=6),
        *_arc(hinge, grasp, -1.0, 8, CLOSE),
    ]


def kettle(site: Sites) -> list[Waypoint]:
    # Push the kettle's box body (0.24 m square, 0.12 m tall) from behind (-y) towards the top-left
    # burner (+0.4 y, +0.04 x), low down so that it slides rather than tips, and under the handle arch.
    # The closed fingertips touch it about 0.19 m behind the kettle's centre; the target stops the hand
    # short of the goal (the kettle slides on a little) and leads it by 6 cm a step to push hard enough.
    # The arm cannot reach much further at this height: the push usually stalls just past the goal region.
    base = site("kettle_site") + [0.0, 0.0, -0.258]  # the handle's top is 0.258 m above the kettle's base
    back = base + [0.0, -0.18, 0.08]
    return [
        Waypoint(back + [0, -0.04, 0.12], CLOSE, tol=0.04, max_steps=20),
        Waypoint(back, CLOSE, tol=0.02, max_steps=15),
        Waypoint(base + [0.08, 0.16, 0.08], CLOSE, max_steps=60, step=0.06),
    ]


def light_switch(site: Sites) -> list[Waypoint]:
    s = site("light_site")
    start = s + [0.06, 0.0, 0.02]
    return [Waypoint(start + [0, -0.12, 0], CLOSE), Waypoint(start, CLOSE), Waypoint(start + [-0.16, 0, 0], CLOSE)]


def slide_cabinet(site: Sites) -> list[Waypoint]:
    s = site("slide_site")
    start = s + [-0.06, -0.03, 0.0]
    return [
        Waypoint(start + [0, -0.12, 0], CLOSE),
        Waypoint(start, CLOSE),
        Waypoint(start + [0.35, 0, 0], CLOSE, max_steps=60),
    ]


def _knob(name: str) -> Callable[[Sites], list[Waypoint]]:
    def turn(site: Sites) -> list[Waypoint]:
        k = site(name) + [0.0, -0.01, 0.0]
        return [
            Waypoint(k + [0, -0.12, 0]),
            Waypoint(k, tol=0.01),
            Waypoint(k, CLOSE, max_steps=6),
            Waypoint(k, CLOSE, roll=1.1, max_steps=30),
        ]

    return turn


def hinge_cabinet(site: Sites) -> list[Waypoint]:
    h = site("hinge_site2")  # handle of the right door, hinged about z at x = -0.224
    hinge = np.array([-0.224, 0.71, h[2]])
    grasp = h + [0.0, -0.005, 0.0]
    return [
        Waypoint(h + [0, -0.15, 0]),
        Waypoint(grasp, tol=0.01),
        Waypoint(grasp, CLOSE, max_steps=6),
        *_arc(hinge, grasp, 1.3, 14, CLOSE),
    ]


PRIMITIVES: dict[str, Callable[[Sites], list[Waypoint]]] = {
    "microwave": microwave,
    "kettle": kettle,
    "light switch": light_switch,
    "slide cabinet": slide_cabinet,
    "bottom burner": _knob("knob2_site"),
    "top burner": _knob("knob4_site"),
    "hinge cabinet": hinge_cabinet,
}


def _rot(axis: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


class KitchenExpert:
    """Completes ``order`` (kitchen object names) one after another; ``get_action(state)`` -> (9,)."""

    def __init__(self, order: Sequence[str]) -> None:
        unknown = [o for o in order if o not in PRIMITIVES]
        if unknown:
            raise ValueError(f"no kitchen primitive for {unknown}; known objects: {', '.join(PRIMITIVES)}")
        self.order = list(order)
        self.model = mujoco.MjModel.from_xml_path(MODEL_XML)
        self.data = mujoco.MjData(self.model)
        self.ee = self.model.site("end_effector").id
        self.reset()

    def reset(self) -> None:
        self.queue = list(self.order)  # objects not yet attempted
        self.current: str | None = None  # object being worked on
        self.plan: list[Waypoint] = []
        self.errs: list[float] = []  # the current waypoint's remaining distance, one entry per step spent on it
        self.rot0: np.ndarray | None = None  # end-effector orientation at the start of the episode
        self.last_wp = Waypoint(np.zeros(3))  # the waypoint tracked last (its orientation is held while backing off)

    def _site(self, name: str) -> np.ndarray:
        return self.data.site(name).xpos.copy()

    def _start_next(self, qpos: np.ndarray) -> None:
        """Plan the next unfinished object, starting with a back-off from wherever the hand is."""
        self.queue = [o for o in self.queue if not goal_reached(qpos, o)]
        self.current = self.queue.pop(0) if self.queue else None
        if self.current is None:
            return
        # Back off along the gripper's pointing axis, keeping its orientation, to slide off handles.
        rot = self.data.site_xmat[self.ee].reshape(3, 3)
        ee = self.data.site_xpos[self.ee]
        last = self.last_wp
        release = Waypoint(ee.copy(), OPEN, last.roll, last.yaw, max_steps=3)
        back = Waypoint(ee - 0.12 * rot[:, 2], OPEN, last.roll, last.yaw, tol=0.03, max_steps=10)
        approach, *rest = PRIMITIVES[self.current](self._site)
        approach = replace(approach, max_steps=max(approach.max_steps, 45))  # it may cross the kitchen
        self.plan = [release, back, approach, *rest]
        self.errs = []

    def get_action(self, state: np.ndarray) -> np.ndarray:
        qpos, _ = split_state(state)
        self.data.qpos[:] = qpos
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)
        if self.rot0 is None:
            self.rot0 = self.data.site_xmat[self.ee].reshape(3, 3).copy()
        if self.current is not None and self.plan and goal_distance(qpos, self.current) < FINISH_FRAC * BONUS_THRESH:
            self.plan = []  # well inside the goal region: no need to finish the overshoot
        if not self.plan:  # the primitive ran out (they overshoot the goal on purpose): next object
            self._start_next(qpos)
        if not self.plan:  # nothing left: hold the pose (a zero action lets the arm sag under gravity)
            self.plan = [Waypoint(self.data.site_xpos[self.ee].copy(), OPEN, max_steps=10**9)]
        wp = self.last_wp = self.plan[0]
        action, err = self._track(wp)
        self.errs.append(err)
        stalled = len(self.errs) > STALL_STEPS and self.errs[-1 - STALL_STEPS] - err < STALL_GAIN
        if err < wp.tol or len(self.errs) >= wp.max_steps or stalled:
            self.plan.pop(0)
            self.errs = []
        return action

    @staticmethod
    def _dls(jac: np.ndarray, twist: np.ndarray, lam: float = 0.05) -> np.ndarray:
        return jac.T @ np.linalg.solve(jac @ jac.T + lam**2 * np.eye(6), twist)

    def _track(self, wp: Waypoint) -> tuple[np.ndarray, float]:
        """One DLS IK step towards ``wp``; returns the action and the remaining position error."""
        ee = self.data.site_xpos[self.ee]
        dx = wp.pos - ee
        err = float(np.linalg.norm(dx))
        lead = wp.step or MAX_STEP
        if err > lead:
            dx = dx * lead / err
        target = _rot(2, wp.yaw) @ _rot(1, wp.roll) @ self.rot0
        rot = self.data.site_xmat[self.ee].reshape(3, 3)
        dr = 0.5 * sum(np.cross(rot[:, i], target[:, i]) for i in range(3))
        dr = np.clip(dr, -0.15, 0.15)
        jp, jr = np.zeros((3, self.model.nv)), np.zeros((3, self.model.nv))
        mujoco.mj_jacSite(self.model, self.data, jp, jr, self.ee)
        jac = np.vstack([jp, jr])[:, :7]
        dq = self._dls(jac, np.concatenate([dx, dr]))
        # A joint at its limit would eat its share of the motion: solve again without it.
        q, (lo, hi) = self.data.qpos[:7], self.model.jnt_range[:7].T
        stuck = ((q < lo + 0.05) & (dq < 0)) | ((q > hi - 0.05) & (dq > 0))
        if stuck.any():
            jac[:, stuck] = 0.0
            dq = self._dls(jac, np.concatenate([dx, dr]))
        arm = TRACK_GAIN * dq / (ACT_SCALE * DT)
        peak = np.abs(arm).max()
        if peak > 1.0:
            arm = arm / peak  # keep the direction, respect the action box
        return np.concatenate([arm, [wp.grip, wp.grip]]), err
