"""The run's curve: rolling means against a plain loop, and the plot is written."""

import numpy as np

from moto_rl.common.config_loading import load_config
from moto_rl.deploy.run.summary import plot_success_curve, rolling_mean


def test_rolling_mean_matches_a_plain_loop():
    values = list(np.random.default_rng(0).random(23))
    for window in (1, 3, 10, 50):
        expected = [np.mean(values[max(0, i + 1 - window) : i + 1]) for i in range(len(values))]
        np.testing.assert_allclose(rolling_mean(values, window), expected)


def test_curve_plot_is_written(tmp_path):
    evals = [{"env_steps": s, "success_rate": 0.5, "mean_return": 1.0} for s in (0, 100)]
    episodes = [[10.0 * i, float(i % 2), 1.0] for i in range(1, 11)]
    plot_success_curve(evals, episodes, load_config([]), tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 10_000
