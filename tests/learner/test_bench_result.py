"""``moto bench learner`` reports seconds per update at equal work by default and labels subsampling."""

import argparse

import pytest

from learner import bench


def _run(monkeypatch, starts: int) -> dict:
    real = bench.time_learners
    monkeypatch.setattr(bench, "time_learners", lambda cfgs, reps, warmup, device: real(cfgs, 1, 0, device))
    return bench.run(argparse.Namespace(size="tiny", quick=True, device="cpu", starts=starts, threads=1))


def test_default_is_equal_work_with_the_three_parts(monkeypatch):
    result = _run(monkeypatch, 0)
    assert result["batch"] == "4x16" and result["imag_horizon"] == 15
    assert result["imagination_starts"] == 64  # every posterior state of the 4 x 16 batch
    assert result["work"].startswith("equal")
    assert result["torch_threads"] == 1
    for key in ("world_model_s", "behaviour_s", "total_s"):
        assert result[key] > 0
    # one repetition: the parts add up to the total
    assert abs(result["world_model_s"] + result["behaviour_s"] - result["total_s"]) < 0.01
    # learner speed under its one name (learner.service.LEARNER_SPEED), the inverse of the update time
    assert result["learner_steps_per_s"] == pytest.approx(1.0 / result["total_s"], rel=0.02)
    assert "train_steps_per_s" not in result


def test_subsampled_starts_are_labelled(monkeypatch):
    result = _run(monkeypatch, 8)
    assert result["imagination_starts"] == 8
    assert result["work"].startswith("SUBSAMPLED")
