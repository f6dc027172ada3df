"""The task registry: every task id the project knows, and what each one means.

A task id is ``SUITE/NAME``: ``metaworld/drawer-open`` or ``kitchen/mixed``. Config validation, the
environment factory and ``moto envs`` all read this one table, so a task is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

# The ten MetaWorld tasks of the paper (v3 environment names are ``<name>-v3``).
METAWORLD_TASKS: tuple[str, ...] = (
    "assembly",
    "bin-picking",
    "box-close",
    "coffee-push",
    "disassemble",
    "door-open",
    "drawer-open",
    "hammer",
    "plate-slide",
    "window-open",
)

# Franka Kitchen target objects per task. "partial" has no full solution in the dataset, so its
# behaviour-prior filter asks for the first three objects only (see ``bc_filter_objects``).
KITCHEN_TASKS: dict[str, tuple[str, ...]] = {
    "mixed": ("microwave", "kettle", "light switch", "slide cabinet"),
    "partial": ("microwave", "kettle", "bottom burner", "light switch"),
}


@dataclass(frozen=True)
class TaskSpec:
    """What a task id resolves to."""

    task_id: str  # "metaworld/drawer-open"
    suite: str  # "metaworld" | "kitchen"
    name: str  # "drawer-open" | "mixed"
    objects: tuple[str, ...]  # kitchen target objects; () for MetaWorld
    bc_filter_objects: tuple[str, ...]  # objects a trajectory must complete to count as successful

    @property
    def action_dim(self) -> int:
        # MetaWorld: end-effector xyz + gripper; Kitchen: 7 arm + 2 gripper joint velocities
        return 4 if self.suite == "metaworld" else 9

    @property
    def env_id(self) -> str:
        return f"{self.name}-v3" if self.suite == "metaworld" else "FrankaKitchen-v1"


def all_task_ids() -> list[str]:
    return [f"metaworld/{n}" for n in METAWORLD_TASKS] + [f"kitchen/{n}" for n in KITCHEN_TASKS]


class UnknownTaskError(ValueError):
    pass


def task_spec(task_id: str) -> TaskSpec:
    """Resolve a task id; an unknown id raises with the list of valid ones."""
    suite, _, name = task_id.partition("/")
    if suite == "metaworld" and name in METAWORLD_TASKS:
        return TaskSpec(task_id, suite, name, (), ())
    if suite == "kitchen" and name in KITCHEN_TASKS:
        objects = KITCHEN_TASKS[name]
        bc = objects[:3] if name == "partial" else objects
        return TaskSpec(task_id, suite, name, objects, bc)
    import difflib

    close = difflib.get_close_matches(task_id, all_task_ids(), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownTaskError(
        f"unknown task '{task_id}'.{hint} Valid tasks: {', '.join(all_task_ids())} (run `moto envs` to list them)."
    )
