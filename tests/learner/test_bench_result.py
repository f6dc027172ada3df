"""``moto bench learner`` reports seconds per update at equal work by default and labels subsampling.

The figures are checked against what the bench itself measured and ran: the timers' medians of the
7-member and the 1-member learner, and the imagination calls it timed (their start count, horizon and
number of prior members)."""

import argparse

import pytest

from moto_rl.learner import bench, imagination


def _run(monkeypatch, starts: int) -> tuple[dict, dict, list[tuple[int, int, int]]]:
    """The result, the timers it was computed from, and (prior members, starts, horizon) of each imagination."""
    real_time, real_imagine, timers, imagined = bench.time_learners, imagination.imagine, {}, []

    def one_rep(cfgs, reps, warmup, device):
        timers.update(real_time(cfgs, 1, 0, device))
        return timers

    def recorded(world_model, actor, start, horizon, *args, **kwargs):
        imagined.append((world_model.rssm.prior_ensemble.members, start.deter.shape[0], horizon))
        return real_imagine(world_model, actor, start, horizon, *args, **kwargs)

    monkeypatch.setattr(bench, "time_learners", one_rep)
    monkeypatch.setattr(imagination, "imagine", recorded)
    result = bench.run(argparse.Namespace(size="tiny", quick=True, device="cpu", starts=starts, threads=1))
    return result, timers, imagined


def test_default_is_equal_work_with_the_three_parts(monkeypatch):
    result, timers, imagined = _run(monkeypatch, 0)
    assert result["batch"] == "4x16" and result["imag_horizon"] == 15
    assert result["imagination_starts"] == 64  # every posterior state of the 4 x 16 batch
    assert result["work"].startswith("equal")
    assert result["torch_threads"] == 1
    # what was timed: one update of a 7-member and one of a 1-member learner, each imagining H = 15 steps
    # from all 64 starts (quick: 4 x 16; the full bench's 16 x 50 gives the peer's 800 the same way)
    # (and, where the default runs in bf16, the same 7-member update in fp32 beside it)
    assert sorted(imagined) == [(1, 64, 15)] + [(7, 64, 15)] * (2 if result["amp_bf16"] else 1)
    seven, one = timers["seven"], timers["one"]
    assert result["amp_bf16"] == seven.learner.bf16
    if result["amp_bf16"]:
        fp32 = timers["fp32"].learner
        assert not fp32.bf16 and fp32.world_model.rssm.prior_ensemble.members == 7
        assert result["bf16_speedup"] == pytest.approx(result["fp32_total_s"] / result["total_s"], rel=0.05)
    assert seven.learner.world_model.rssm.prior_ensemble.members == 7
    assert one.learner.world_model.rssm.prior_ensemble.members == 1
    # each figure is its own learner's measurement, not the other's
    assert result["total_s"] == round(seven.median("step"), 3) > 0
    assert result["total_s_1_member"] == round(one.median("step"), 3) > 0
    assert result["ensemble_overhead"] == round(seven.median("step") / one.median("step"), 3)
    assert result["ensemble_overhead"] == pytest.approx(result["total_s"] / result["total_s_1_member"], rel=0.05)
    # one repetition: the parts add up to the total, and behaviour is imagination + actor-critic
    assert abs(result["world_model_s"] + result["behaviour_s"] - result["total_s"]) < 0.0021
    assert abs(result["imagination_s"] + result["actor_critic_s"] - result["behaviour_s"]) < 0.0021
    assert 0 < result["imagination_s"] < result["behaviour_s"]
    # learner speed under its one name (moto_rl.learner.learner.LEARNER_SPEED), the inverse of the update time
    assert result["learner_steps_per_s"] == round(1.0 / seven.median("step"), 3)
    assert result["learner_steps_per_s"] == pytest.approx(1.0 / result["total_s"], rel=0.02)
    assert "train_steps_per_s" not in result


def test_subsampled_starts_are_labelled(monkeypatch):
    result, _, imagined = _run(monkeypatch, 8)
    assert result["imagination_starts"] == 8
    assert result["work"].startswith("SUBSAMPLED") and "8 of 64" in result["work"]
    sevens = 2 if result["amp_bf16"] else 1  # bf16 by default here: the fp32 update is timed beside it
    assert sorted(imagined) == [(1, 8, 15)] + [(7, 8, 15)] * sevens  # the label says what was run


@pytest.mark.parametrize("native_bf16", [False, True])
def test_switches_time_bf16_only_where_the_hardware_has_it(monkeypatch, native_bf16):
    # software bf16 on a CPU without bf16 instructions ran a small update 24x slower: a bench that times
    # it would run for hours, so it is left out and the result says why
    timed, real_time = {}, bench.time_learners

    def one_rep(cfgs, reps, warmup, device):
        timed.update(cfgs)
        return real_time(cfgs, 1, 0, device)

    monkeypatch.setattr(bench, "time_learners", one_rep)
    overrides = ["size=tiny", "algo.batch_size=2", "algo.seq_len=8", "algo.imag_horizon=3", "perf.compile=false"]
    # compile's inductor build takes a minute: the variants here are checked by what they are asked to be
    monkeypatch.setattr(bench, "SWITCHES", ("amp_bf16", "channels_last", "fused_adam"))
    result = bench.switch_speedups(overrides, 1, "cpu", native_bf16=native_bf16)
    assert ("amp_bf16" in timed) == native_bf16
    assert timed["all"].perf.amp_bf16 is (True if native_bf16 else None)  # None: automatic, off here
    assert timed["plain"].perf.amp_bf16 is False and timed["plain"].perf.channels_last is False
    assert timed["channels_last"].perf.channels_last is True and timed["channels_last"].perf.amp_bf16 is False
    assert ("amp_bf16" in result["switch_speedup"]) == native_bf16
    assert ("switch_skipped" in result) != native_bf16
    assert set(result["switch_step_ms"]) == set(timed) - {"plain"}
