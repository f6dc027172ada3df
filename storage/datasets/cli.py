"""Handlers of ``moto datasets build``, ``moto import`` and ``moto export`` (parsers: deploy/cli.py)."""

from __future__ import annotations

import argparse
import os

from common.errors import UserError

IMPORTERS = ("minari", "d4rl-kitchen", "minari-kitchen", "npz", "d4rl-images")
DATASETS = ("metaworld10", "kitchen-mixed", "kitchen-partial")


def build(args: argparse.Namespace) -> int:
    if args.name.startswith("kitchen-"):
        return _build_kitchen(args)
    if args.name != "metaworld10":
        raise UserError(f"unknown dataset '{args.name}'; buildable: {', '.join(DATASETS)}")
    from tqdm import tqdm

    from common.tasks import METAWORLD_TASKS
    from storage.datasets import metaworld10 as mw

    tasks = args.tasks.split(",") if args.tasks else list(METAWORLD_TASKS)
    with tqdm(total=len(tasks) * args.episodes, desc="metaworld10", unit="ep") as bar:
        done = sum(min(r.episodes, args.episodes) for r in mw.summarize(args.store, tasks))
        bar.update(done)  # resumed: count what is already stored

        def on_episode(task: str, stat: dict) -> None:
            bar.update(1)
            bar.set_postfix(task=task, success=stat["success"])

        rows = mw.build_metaworld10(args.store, args.episodes, args.workers, args.seed, tasks, on_episode)
    print(mw.table_markdown(rows), end="")
    stem = args.table or (os.path.join(args.store, "metaworld10_demos") if "://" not in args.store
                          else f"{args.store.rstrip('/')}/metaworld10_demos")
    md, csv_path = mw.save_tables(rows, stem)
    print(f"tables: {md}, {csv_path}")
    return 0


def _build_kitchen(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from storage.datasets import kitchen_scripted as ks

    with tqdm(total=args.episodes, desc=args.name, unit="ep") as bar:
        def on_episode(stat: dict) -> None:
            bar.update(1)
            bar.set_postfix(success=stat["success"], ret=f"{stat['return']:.0f}")

        table = ks.build_kitchen(args.name, args.store, args.episodes, args.workers, args.seed, on_episode)
    print(ks.table_markdown(table), end="")
    stem = args.table or f"{args.store.rstrip('/')}_demos"  # beside the store, not inside it
    md, csv_path = ks.save_tables(table, stem)
    print(f"tables: {md}, {csv_path}")
    return 0


def import_(args: argparse.Namespace) -> int:
    from storage.datasets import d4rl_images, d4rl_kitchen, minari_kitchen, npz

    if args.format in ("d4rl-kitchen", "minari", "minari-kitchen") and not args.task:
        raise UserError(f"`moto import {args.format}` needs --task kitchen/mixed or kitchen/partial (rewards are recomputed for it)")
    if not args.task:
        raise UserError(f"`moto import {args.format}` needs --task, e.g. --task metaworld/drawer-open")
    run = {
        "d4rl-kitchen": d4rl_kitchen.import_d4rl_kitchen,
        "minari": minari_kitchen.import_minari_kitchen,
        "minari-kitchen": minari_kitchen.import_minari_kitchen,
        "npz": npz.import_npz,
        "d4rl-images": d4rl_images.import_d4rl_images,
    }[args.format]
    report = run(args.path, args.task, args.store)
    print(report.summary() + f" -> {args.store}")
    return 0


def export(args: argparse.Namespace) -> int:
    from storage.datasets.npz import export_npz

    paths = export_npz(args.store, args.dir)
    print(f"{len(paths)} episodes in {args.dir}")
    return 0
