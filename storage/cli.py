"""``moto store info|verify|fsck URL``."""

from __future__ import annotations

import argparse

from moto_rl.storage.store import TrajectoryStore


def info(args: argparse.Namespace) -> int:
    store = TrajectoryStore.open(args.url)
    stats = store.stats()
    sources = ", ".join(f"{k} {v}" for k, v in sorted(stats["by_source"].items())) or "none"
    print(f"store        {store.url}")
    print(f"episodes     {stats['episodes']} ({sources})")
    print(f"frames       {stats['frames']} ({stats['steps']} agent steps)")
    print(f"success rate {stats['success_rate']:.1%}")
    print(f"size on disk {stats['bytes'] / 2**20:.1f} MiB")
    return 0


def verify(args: argparse.Namespace) -> int:
    store = TrajectoryStore.open(args.url)
    problems = store.verify()
    for line in problems:
        print(line)
    print(f"{len(store)} committed episodes checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def fsck(args: argparse.Namespace) -> int:
    store = TrajectoryStore.open(args.url)
    done = store.fsck(older_than=args.older_than, dry_run=args.dry_run)
    for line in done:
        print(line)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(done)} leftover(s) older than {args.older_than:g} s")
    return 0
