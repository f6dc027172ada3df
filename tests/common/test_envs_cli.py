"""``moto envs`` (list, show) and the shape of ``moto bench env``'s result."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from PIL import Image

from moto_rl.common.envs import bench
from moto_rl.common.envs.cli import list_tasks, show
from moto_rl.common.errors import UserError
from moto_rl.common.tasks import all_task_ids


def test_list_shows_every_task_with_its_preset(capsys) -> None:
    assert list_tasks(argparse.Namespace()) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + len(all_task_ids())
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(all_task_ids())
    assert rows["metaworld/drawer-open"][1:5] == ["metaworld", "4", "100", "2"]
    assert rows["kitchen/mixed"][1:5] == ["kitchen", "9", "280", "1"]
    assert "bottom burner" in next(line for line in lines if line.startswith("kitchen/partial"))


def test_show_saves_the_frame_as_png(tmp_path) -> None:
    out = tmp_path / "sub" / "frame.png"
    args = argparse.Namespace(task="metaworld/door-open", out=str(out), steps=2, seed=0, default_render=False)
    assert show(args) == 0
    image = np.asarray(Image.open(out))
    assert image.shape == (64, 64, 3) and image.mean() > 20


def test_show_unknown_task_is_a_user_error(tmp_path) -> None:
    args = argparse.Namespace(task="kitchen/mixd", out=str(tmp_path / "f.png"), steps=0, seed=0, default_render=False)
    with pytest.raises(UserError, match="kitchen/mixed") as err:
        show(args)
    assert "metaworld/assembly" in str(err.value)  # the whole valid list, not only the close match
    assert not (tmp_path / "f.png").exists()


def test_bench_reports_every_figure(monkeypatch) -> None:
    few = {task: {True: (5, 3, 2), False: (5, 3, 2)} for task in bench.STEPS}
    monkeypatch.setattr(bench, "STEPS", few)
    result = bench.run(argparse.Namespace(quick=True))
    keys = ("raw_steps_per_s", "render_steps_per_s", "default_render_steps_per_s", "fast_vs_default")
    for part, task in ((result, bench.METAWORLD_TASK), (result["kitchen"], bench.KITCHEN_TASK)):
        assert part["task"] == task
        assert all(part[k] > 0 for k in keys)
        # the ratio is the two reported rates' ratio (one measurement, not figures made up apart), up to
        # the rounding of each reported figure (rates to 0.1 and 0.01, the ratio to 0.01)
        fast, default = part["render_steps_per_s"], part["default_render_steps_per_s"]
        low, high = (fast - 0.05) / (default + 0.005), (fast + 0.05) / max(default - 0.005, 1e-9)
        assert low - 0.005 <= part["fast_vs_default"] <= high + 0.005, part
