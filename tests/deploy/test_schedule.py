"""The schedule holds the paper's update-to-data ratio and ends on the same counters however it runs."""

import random

from common.config import ScheduleConfig
from deploy.schedule import Schedule, ScheduleState


def simulate(schedule: Schedule, workers: int, rng: random.Random, stop_after_events: int | None = None) -> int:
    """Random interleaving of episode completions and learner chunks; returns events processed."""
    in_flight, events = 0, 0
    while not schedule.finished:
        while in_flight < workers and schedule.episodes_to_start(in_flight, 1):
            in_flight += 1
        can_train = schedule.online_due > 0
        if in_flight and (not can_train or rng.random() < 0.5):
            in_flight -= 1
            schedule.record_episode(10)
        elif can_train:
            n = min(schedule.online_due, schedule.cfg.updates_per_episode)
            schedule.record_updates(n, offline=False)
            # the ratio never runs ahead of the data
            assert schedule.state.online_done <= schedule.state.episodes * schedule.cfg.updates_per_episode
        else:
            raise AssertionError("deadlock: nothing in flight and nothing to train")
        # workers never run more than the backlog allows ahead of the learner
        assert schedule.online_due / schedule.cfg.updates_per_episode <= schedule.max_backlog + 1
        events += 1
        if stop_after_events is not None and events >= stop_after_events:
            break
    return events


def test_online_counters_follow_the_ratio_for_any_number_of_workers():
    cfg = ScheduleConfig(offline_steps=0, updates_per_episode=20, online_steps=400)
    for workers in (1, 2, 5):
        schedule = Schedule(cfg, workers)
        simulate(schedule, workers, random.Random(workers))
        assert schedule.state.episodes == 20
        assert schedule.state.online_done == 400
        assert schedule.state.env_steps == 200


def test_target_rounds_up_so_the_online_steps_are_all_done():
    schedule = Schedule(ScheduleConfig(offline_steps=0, updates_per_episode=20, online_steps=50), 2)
    assert schedule.target_episodes == 3


def test_resumed_schedule_ends_on_the_same_counters():
    cfg = ScheduleConfig(offline_steps=0, updates_per_episode=5, online_steps=100)
    straight = Schedule(cfg, 2)
    simulate(straight, 2, random.Random(0))
    interrupted = Schedule(cfg, 2)
    simulate(interrupted, 2, random.Random(1), stop_after_events=13)
    resumed = Schedule(cfg, 2, ScheduleState.from_dict(interrupted.state.to_dict()))
    simulate(resumed, 2, random.Random(2))
    assert (resumed.state.episodes, resumed.state.online_done) == (straight.state.episodes, straight.state.online_done)


def test_eval_due_every_e_episodes():
    schedule = Schedule(ScheduleConfig(updates_per_episode=1, online_steps=10, eval_every_episodes=3), 1)
    due = [schedule.record_episode(1) for _ in range(7)]
    assert due == [False, False, True, False, False, True, False]


def test_offline_phase_counts_down():
    schedule = Schedule(ScheduleConfig(offline_steps=120, updates_per_episode=1, online_steps=1), 1)
    schedule.record_updates(50, offline=True)
    assert schedule.offline_remaining == 70 and not schedule.finished


def test_batched_starts_never_overshoot_the_target():
    schedule = Schedule(ScheduleConfig(offline_steps=0, updates_per_episode=2, online_steps=10), 2)
    assert schedule.episodes_to_start(in_flight=0, batch=4) == 4
    assert schedule.episodes_to_start(in_flight=4, batch=4) == 1  # 5 episodes make the 10 steps
    schedule.state.episodes = 5
    assert schedule.episodes_to_start(in_flight=0, batch=4) == 0
