"""Handler of ``moto datasets build`` (metaworld10, kitchen-mixed, kitchen-partial): progress bar, table."""

from __future__ import annotations

import argparse
import os

from moto_rl.common.episode import EpisodeStats
from moto_rl.common.errors import UserError

DATASETS = ("metaworld10", "kitchen-mixed", "kitchen-partial")


def build(args: argparse.Namespace) -> int:
    if args.name.startswith("kitchen-"):
        return _build_kitchen(args)
    if args.name != "metaworld10":
        raise UserError(f"unknown dataset '{args.name}'; buildable: {', '.join(DATASETS)}")
    from tqdm import tqdm

    from moto_rl.common.tasks import METAWORLD_TASKS
    from moto_rl.deploy.dataset_builders import metaworld10 as mw

    tasks = args.tasks.split(",") if args.tasks else list(METAWORLD_TASKS)
    with tqdm(total=len(tasks) * args.episodes, desc="metaworld10", unit="ep") as bar:
        done = sum(min(r.episodes, args.episodes) for r in mw.summarize(args.store, tasks))
        bar.update(done)  # resumed: count what is already stored

        def on_episode(task: str, stat: EpisodeStats) -> None:
            bar.update(1)
            bar.set_postfix(task=task, success=stat.success)

        rows = mw.build_metaworld10(args.store, args.episodes, args.workers, args.seed, tasks, on_episode)
    print(mw.table_markdown(rows), end="")
    stem = args.table or (
        os.path.join(args.store, "metaworld10_demos")
        if "://" not in args.store
        else f"{args.store.rstrip('/')}/metaworld10_demos"
    )
    md, csv_path = mw.save_tables(rows, stem)
    print(f"tables: {md}, {csv_path}")
    return 0


def _build_kitchen(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from moto_rl.deploy.dataset_builders import kitchen_scripted as ks

    with tqdm(total=args.episodes, desc=args.name, unit="ep") as bar:

        def on_episode(stat: EpisodeStats) -> None:
            bar.update(1)
            bar.set_postfix(success=stat.success, ret=f"{stat.episode_return:.0f}")

        table = ks.build_kitchen(args.name, args.store, args.episodes, args.workers, args.seed, on_episode)
    print(ks.table_markdown(table), end="")
    stem = args.table or f"{args.store.rstrip('/')}_demos"  # beside the store, not inside it
    md, csv_path = ks.save_tables(table, stem)
    print(f"tables: {md}, {csv_path}")
    return 0
