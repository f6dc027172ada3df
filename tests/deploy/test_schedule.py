"""The schedule's counters in isolation. The ratio held by the real driver's loop (any fleet size, a
rescale, a crash) is checked in tests/deploy/test_train_e2e.py; same counters after a kill and a
resume in tests/deploy/test_train_sigkill.py."""

from moto_rl.common.config import ScheduleConfig
from moto_rl.deploy.run.schedule import Schedule


def test_target_rounds_up_so_the_online_steps_are_all_done():
    schedule = Schedule(ScheduleConfig(offline_steps=0, updates_per_episode=20, online_steps=50), 2)
    assert schedule.target_episodes == 3


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


def test_the_last_evaluation_takes_final_eval_episodes():
    cfg = ScheduleConfig(updates_per_episode=1, online_steps=4, eval_every_episodes=2, eval_episodes=10)
    schedule = Schedule(cfg, 1)
    assert schedule.eval_episodes() == 10  # 0: as many as the others
    cfg.final_eval_episodes = 20
    sizes = []
    for _ in range(4):
        if schedule.record_episode(1):
            sizes.append(schedule.eval_episodes())
    assert sizes == [10, 20]  # after episode 2, then after the last one
