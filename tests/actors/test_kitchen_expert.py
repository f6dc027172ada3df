"""The scripted Franka Kitchen expert: completes objects from the state; `moto datasets build kitchen-mixed`."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest

from moto_rl.actors.kitchen_expert import ALL_OBJECTS, KitchenExpert
from moto_rl.actors.scripted import make_expert
from moto_rl.common.envs.kitchen import goal_reached
from moto_rl.common.tasks import task_spec
from moto_rl.deploy.cli import main as moto
from moto_rl.storage import TrajectoryStore


def _run(order: list[str], steps: int, seed: int = 0) -> set[str]:
    """Objects completed at some step of a ``steps``-step episode (state-only env: no rendering)."""
    env = gym.make(
        "FrankaKitchen-v1",
        remove_task_when_completed=False,
        terminate_on_tasks_completed=False,
        max_episode_steps=steps,
    )
    obs, _ = env.reset(seed=seed)
    qpos = env.unwrapped.robot_env.data.qpos
    expert, done = KitchenExpert(order), set()
    for _ in range(steps):
        action = expert.get_action(obs["observation"])
        assert action.shape == (9,) and np.all(np.abs(action) <= 1.0)
        obs, *_ = env.step(action)
        done |= {o for o in ALL_OBJECTS if goal_reached(qpos, o)}
    env.close()
    return done


@pytest.mark.parametrize("seed", [0, 1])
def test_expert_opens_microwave_then_flips_light_switch(seed):
    done = _run(["microwave", "light switch"], 200, seed)
    assert {"microwave", "light switch"} <= done


def test_expert_moves_slide_cabinet_and_turns_burners():
    done = _run(["slide cabinet", "bottom burner", "top burner"], 260)
    assert {"slide cabinet", "bottom burner", "top burner"} <= done


@pytest.mark.parametrize("task", ["kitchen/mixed", "kitchen/partial"])
def test_expert_completes_every_task_object_within_an_episode(task):
    """All four target objects in place at the same step of a 280-step episode (about step 210)."""
    objects = task_spec(task).objects
    env = gym.make(
        "FrankaKitchen-v1", remove_task_when_completed=False, terminate_on_tasks_completed=False, max_episode_steps=280
    )
    obs, _ = env.reset(seed=3)
    qpos = env.unwrapped.robot_env.data.qpos
    expert, full_at = make_expert(task), None
    for t in range(1, 281):
        obs, *_ = env.step(expert.get_action(obs["observation"]))
        if all(goal_reached(qpos, o) for o in objects):
            full_at = t
            break
    env.close()
    assert full_at is not None and full_at <= 250, f"{task}: not all of {objects} in place at once (by step {full_at})"


def test_make_expert_orders_task_objects_first():
    expert = make_expert("kitchen/partial")
    assert expert.order[:4] == ["microwave", "kettle", "bottom burner", "light switch"]
    assert sorted(expert.order) == sorted(ALL_OBJECTS)
    with pytest.raises(ValueError, match="no kitchen primitive for \\['oven'\\]"):
        KitchenExpert(["oven"])


def test_build_kitchen_mixed_writes_full_episodes_and_table(tmp_path, capsys):
    url = str(tmp_path / "kitchen-mixed")
    assert moto(["datasets", "build", "kitchen-mixed", "--store", url, "--episodes", "1"]) == 0
    store = TrajectoryStore.open(url)
    (eid,) = store.episode_ids()
    meta, episode = store.meta(eid), store.read(eid)
    assert meta.task == "kitchen/mixed" and meta.source == "offline"
    assert len(episode.image) == 281 and len(episode.action) == 281  # reset row + 280 steps
    assert set(meta.completion) == {"microwave", "kettle", "light switch", "slide cabinet"}
    assert meta.completion["microwave"]  # the reliable one
    assert episode.reward.max() >= 1  # reward counts the objects in place
    printed = capsys.readouterr().out
    assert "| microwave | 1/1 (100%) |" in printed and "BC filter" in printed
    with open(f"{url}_demos.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["object"] for r in rows][:4] == ["microwave", "kettle", "light switch", "slide cabinet"]
    assert rows[0]["completed"] == "1"
