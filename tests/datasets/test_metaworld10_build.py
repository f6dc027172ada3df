"""`moto datasets build metaworld10` on two tasks: episodes, success table, resumable reruns."""

from __future__ import annotations

import csv

from moto_rl.deploy.cli import main as moto
from moto_rl.storage import TrajectoryStore


def test_build_two_tasks_table_and_resume(tmp_path, capsys):
    root = str(tmp_path / "demos")
    args = [
        "datasets",
        "build",
        "metaworld10",
        "--store",
        root,
        "--tasks",
        "drawer-open,plate-slide",
        "--episodes",
        "1",
    ]
    assert moto(args) == 0
    printed = capsys.readouterr().out
    assert "| drawer-open | 1 | 1/1 (100%)" in printed and "| plate-slide | 1 |" in printed
    stores = {t: TrajectoryStore.open(f"{root}/metaworld-{t}") for t in ("drawer-open", "plate-slide")}
    for task, store in stores.items():
        (eid,) = store.episode_ids()
        meta, marker = store.meta(eid), store.marker(eid)
        assert meta.task == f"metaworld/{task}" and meta.source == "offline"
        assert marker["length"] == 100  # 100 agent steps (action repeat 2 inside the env)
        assert marker["return"] > 0 and meta.success  # the experts solve both tasks
    with open(f"{root}/metaworld10_demos.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["task"] for r in rows] == ["drawer-open", "plate-slide"]
    assert rows[0]["successes"] == "1" and rows[0]["expert_fails"] == "0"
    assert "| task | episodes | success |" in open(f"{root}/metaworld10_demos.md").read()

    before = {t: s.episode_ids() for t, s in stores.items()}
    assert moto(args) == 0  # everything present: nothing collected
    assert {t: s.episode_ids() for t, s in stores.items()} == before

    assert moto([*args[:5], "--tasks", "drawer-open", "--episodes", "2"]) == 0  # one more, with a fresh seed
    ids = stores["drawer-open"].episode_ids()
    assert len(ids) == 2 and len({stores["drawer-open"].meta(i).seed for i in ids}) == 2
