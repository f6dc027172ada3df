"""``moto campaign SPEC.yaml``: a grid of runs as concurrent Ray tasks, resumable by relaunching.

Each run is a Ray task with ``num_cpus=0`` that executes ``Driver(cfg, run, checkpoint).run()`` in
the same cluster: its learner actor asks for a GPU when the cluster has one and its rollout workers
for CPUs, so the autoscaler sees the real demand. At most ``max_concurrent`` runs are in flight.
Run directories are ``<campaign_dir>/runs/<name>`` with a name fixed by the grid point: relaunching
skips finished runs and resumes interrupted ones from their latest checkpoint.
``moto campaign status SPEC.yaml`` prints the table of runs from disk, from any process.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from moto_rl.common.config import MotoConfig
from moto_rl.common.config_loading import load_config_file
from moto_rl.common.errors import UserError
from moto_rl.deploy.campaign.export import export_run, exported_run, is_exported
from moto_rl.deploy.campaign.spec import CampaignSpec, GridPoint, expand, flat_config, load_spec
from moto_rl.deploy.campaign.state import log_event, run_progress, status_table, write_heartbeat
from moto_rl.deploy.run.demos import count_demos
from moto_rl.deploy.run.offline_data import default_offline_url
from moto_rl.deploy.run.run_dir import RunDirectory

log = logging.getLogger("moto.campaign")
PROGRESS_SECONDS = 60.0  # how often the running runs' progress is printed
# A relaunch may change these without making a run a different experiment.
# (logging.root: a study resumed from its committed results may live in another campaign directory)
NOT_PART_OF_THE_EXPERIMENT = ("workers.ray_address", "workers.num_workers", "logging.progress", "logging.root")


@ray.remote(num_cpus=0, max_retries=0)
def execute_run(overrides: list[str], run_path: str, resume: bool) -> dict:
    """One run, start to finish, inside the cluster; returns where it started from."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from moto_rl.common.config_loading import load_config
    from moto_rl.deploy.run.driver import Driver  # torch, learner and actors: only where the run executes

    if resume:
        run, cfg = RunDirectory.open(run_path)
        checkpoint = run.latest_checkpoint()
    else:
        cfg = load_config(overrides)
        run, checkpoint = RunDirectory.create(cfg), None
    driver = Driver(cfg, run, checkpoint)
    started_at = driver.schedule.learner_steps  # 0 for a fresh run, the checkpoint's step when resumed
    driver.run()
    return {"checkpoint": checkpoint.name if checkpoint else None, "started_at_learner_step": started_at}


def _export(run: RunDirectory, results_dir: Path) -> None:
    """``moto diagnose`` on a finished run's final checkpoint, then its export to ``results_dir``; a failed
    diagnosis costs the figures, not the export."""
    from moto_rl.deploy.run.diagnose import diagnose

    try:
        diagnose(run.path)
    except Exception as e:  # noqa: BLE001 - the run itself finished; say why its diagnosis is missing
        log.warning("diagnosis of %s failed: %s", run.path.name, e)
    export_run(run, results_dir)


def default_campaign_dir(spec: CampaignSpec) -> Path:
    return Path("runs") / "campaigns" / spec.name


def check_unchanged(point: GridPoint, run: RunDirectory) -> None:
    """A run started under an older spec must not be resumed as if it were the new one."""
    saved, wanted = flat_config(load_config_file(run.config_path)), flat_config(point.config())
    changed = [k for k in wanted if k not in NOT_PART_OF_THE_EXPERIMENT and saved.get(k) != wanted[k]]
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {wanted[k]!r}" for k in changed[:5])
        raise UserError(
            f"run {run.path} was started with a different config than the spec now gives ({diffs}); "
            f"restore the spec, or give the campaign a new --dir, or delete that run directory to restart it"
        )


def _demos_ready(cfg: MotoConfig) -> bool:
    return count_demos(default_offline_url(cfg), cfg.env.task) >= cfg.schedule.demo_episodes


def _here() -> NodeAffinitySchedulingStrategy:
    """Run drivers stay on this node: their run directories are on its disk (or its shared FS)."""
    return NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)


def _print_progress(points: list[GridPoint], campaign_dir: Path, running: list[str], done: int) -> None:
    now = time.strftime("%H:%M:%S")
    for p in points:
        if p.name in running:
            r = run_progress(RunDirectory(p.run_path(campaign_dir)), set(running))
            success = "-" if r.success != r.success else f"{100 * r.success:.0f}%"
            print(
                f"[{now}] {done}/{len(points)} done | {r.name}: learner {r.learner_steps}/{r.learner_target}, "
                f"episodes {r.episodes}/{r.episodes_target}, success {success}",
                flush=True,
            )


class _Grid:
    """One ``run_campaign`` call's runs: those still to launch, in flight, finished and failed."""

    def __init__(self, spec: CampaignSpec, campaign_dir: Path, limit: int):
        self.campaign_dir, self.limit = campaign_dir, limit
        self.points = expand(spec, campaign_dir)
        campaign_dir.mkdir(parents=True, exist_ok=True)
        self.runs = {p.name: RunDirectory(p.run_path(campaign_dir)) for p in self.points}
        self.configs = {p.name: p.config() for p in self.points}
        self.results_dir = Path(spec.results_dir) if spec.results_dir else None
        for p in self.points:
            if self._exported(p):
                check_unchanged(p, exported_run(spec.results_dir, p.name))
            elif self.runs[p.name].config_path.is_file():
                check_unchanged(p, self.runs[p.name])
                if self.results_dir and self.runs[p.name].summary_path.is_file():
                    _export(self.runs[p.name], self.results_dir)  # finished before results_dir was set
        self.todo = [p for p in self.points if not self._finished(p)]
        self.done = len(self.points) - len(self.todo)
        self.in_flight: dict[ray.ObjectRef, GridPoint] = {}
        self.preparing_demos: dict[str, GridPoint] = {}  # offline URL -> the run generating its demos
        self.failures: dict[str, str] = {}
        resumable = sum(self.runs[p.name].config_path.is_file() for p in self.todo)
        print(
            f"campaign {spec.name}: {len(self.points)} runs in {campaign_dir}; {self.done} finished, {resumable} to "
            f"resume, {len(self.todo) - resumable} to start; at most {limit} at once",
            flush=True,
        )

    def _exported(self, p: GridPoint) -> bool:
        return self.results_dir is not None and is_exported(self.results_dir, p.name)

    def _finished(self, p: GridPoint) -> bool:
        """Finished here, or exported to the results folder (e.g. committed by an earlier session)."""
        return self.runs[p.name].summary_path.is_file() or self._exported(p)

    def running(self) -> list[str]:
        return [p.name for p in self.in_flight.values()]

    def launch_ready(self) -> None:
        """Launch runs up to the limit; concurrent runs of one task would each generate the shared demos,
        so while one run generates them the others of its task wait."""
        for url, p in list(self.preparing_demos.items()):
            if p not in self.in_flight.values() or _demos_ready(self.configs[p.name]):
                del self.preparing_demos[url]
        for p in list(self.todo):
            if len(self.in_flight) >= self.limit:
                break
            cfg = self.configs[p.name]
            url = default_offline_url(cfg)
            if url in self.preparing_demos:
                continue
            if not _demos_ready(cfg):
                self.preparing_demos[url] = p
            self.todo.remove(p)
            self._launch(p)

    def _launch(self, p: GridPoint) -> None:
        resume = self.runs[p.name].config_path.is_file()
        run_path = str(self.runs[p.name].path)
        ref = execute_run.options(scheduling_strategy=_here()).remote(list(p.overrides), run_path, resume)
        self.in_flight[ref] = p
        log_event(self.campaign_dir, run=p.name, event="start", resume=resume)
        print(f"{'resuming' if resume else 'starting'} {p.name}", flush=True)

    def collect(self, ref: ray.ObjectRef) -> None:
        """A run's task returned: record it as finished, or as failed (it stays resumable on disk)."""
        p = self.in_flight.pop(ref)
        try:
            info = ray.get(ref)
        except Exception as e:  # the run stays interrupted on disk; a relaunch resumes it
            self.failures[p.name] = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
            log_event(self.campaign_dir, run=p.name, event="failed", error=self.failures[p.name])
            print(f"FAILED {p.name}: {self.failures[p.name]}", flush=True)
            return
        self.done += 1
        log_event(self.campaign_dir, run=p.name, event="finished", **info)
        if self.results_dir:
            _export(self.runs[p.name], self.results_dir)
        r = run_progress(self.runs[p.name], set())
        success = "n/a" if r.success != r.success else f"{100 * r.success:.0f}%"
        print(f"[{self.done}/{len(self.points)}] finished {p.name}: final success {success}", flush=True)

    def stop_all(self) -> None:
        for ref, p in self.in_flight.items():
            ray.cancel(ref, force=True)  # kills the run's driver process; its actors die with their owner
            log_event(self.campaign_dir, run=p.name, event="stopped")
        print(f"stopped with {len(self.in_flight)} runs in flight; relaunch to resume them", flush=True)
        self.in_flight.clear()


def run_campaign(
    spec: CampaignSpec,
    campaign_dir: str | Path,
    max_concurrent: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    poll_seconds: float = 5.0,
) -> dict[str, str]:
    """Run every unfinished grid point on the connected Ray cluster; returns {run name: error} of failures.

    ``should_stop`` is polled between waits; when it returns True every run in flight is killed
    (as a lost node or Ctrl-C would) and the campaign returns, to be resumed by a relaunch.
    """
    campaign_dir = Path(campaign_dir).resolve()  # Ray workers need absolute paths
    grid = _Grid(spec, campaign_dir, max_concurrent or spec.max_concurrent)
    last_print = time.time()
    while grid.todo or grid.in_flight:
        grid.launch_ready()
        write_heartbeat(campaign_dir, grid.running())
        ready, _ = ray.wait(list(grid.in_flight), num_returns=1, timeout=poll_seconds)
        for ref in ready:
            grid.collect(ref)
        if grid.in_flight and time.time() - last_print >= PROGRESS_SECONDS:
            _print_progress(grid.points, campaign_dir, grid.running(), grid.done)
            last_print = time.time()
        if should_stop is not None and should_stop():
            grid.stop_all()
            break
    write_heartbeat(campaign_dir, [])
    print(status_table(grid.points, campaign_dir, set(), spec.results_dir), flush=True)
    return grid.failures


def _init_ray(spec: CampaignSpec, points: list[GridPoint], limit: int) -> bool:
    """Join the spec's cluster or start a local Ray big enough for ``limit`` runs at once.

    Each run holds num_workers + 2 logical CPUs (learner, rollout workers, evaluation worker); a
    local Ray with fewer could leave two runs each holding part of what they need, waiting forever.
    """
    from moto_rl.deploy.run.train import init_ray

    cfg = points[0].config()
    per_run = max(p.config().workers.num_workers for p in points) + 2
    sized = dataclasses.replace(cfg, workers=dataclasses.replace(cfg.workers, num_workers=limit * per_run - 2))
    return init_ray(sized)


def main(args: argparse.Namespace) -> int:
    words = list(args.words)
    if len(words) == 2 and words[0] == "status":
        spec = load_spec(words[1])
        campaign_dir = Path(args.dir) if args.dir else default_campaign_dir(spec)
        print(status_table(expand(spec, campaign_dir.resolve()), campaign_dir, results_dir=spec.results_dir))
        return 0
    if len(words) != 1 or words[0] == "status":
        raise UserError("usage: moto campaign SPEC.yaml  or  moto campaign status SPEC.yaml")
    logging.basicConfig(level=logging.WARNING)
    spec = load_spec(words[0])
    campaign_dir = Path(args.dir) if args.dir else default_campaign_dir(spec)
    campaign_dir.mkdir(parents=True, exist_ok=True)
    limit = args.max_concurrent or spec.max_concurrent
    started = _init_ray(spec, expand(spec, campaign_dir.resolve()), limit)
    try:
        failures = run_campaign(spec, campaign_dir, limit)
    finally:
        if started:
            ray.shutdown()
    if failures:
        print(f"{len(failures)} runs failed: {', '.join(failures)}; fix the cause and relaunch to resume them")
        return 1
    return 0
