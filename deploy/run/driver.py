"""The driver of ``moto train``: offline pre-training, then online fine-tuning with a fleet of workers.

Reads like paper Algorithm 1. The learner (a Ray actor) trains from the run's store; rollout workers
(Ray actors) write finished episodes into the same store and pick up new weights from a
``WeightBoard``; the driver only counts, gates the update-to-data ratio (``Schedule``), evaluates,
checkpoints and logs. Nothing but finished episodes crosses from actors to the learner.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError
from tqdm import tqdm

from moto_rl.actors.weights import start_weight_board
from moto_rl.actors.worker import RolloutWorker, wait_until_ready, worker_actor_options
from moto_rl.common.config import MotoConfig
from moto_rl.common.episode import EpisodeStats
from moto_rl.common.errors import UserError, first_line
from moto_rl.common.restartable import ActorGone, call_restartable
from moto_rl.common.tracking import Tracker
from moto_rl.deploy.run.fleet import Fleet
from moto_rl.deploy.run.offline_data import prepare_offline_data
from moto_rl.deploy.run.placement import check_shared_paths, learner_resources
from moto_rl.deploy.run.run_dir import RunDirectory
from moto_rl.deploy.run.scale import local_worker_capacity, read_scale_request
from moto_rl.deploy.run.schedule import Schedule, ScheduleState
from moto_rl.deploy.run.stopping import STOP, STOP_CHECKPOINT_TIMEOUT_S
from moto_rl.deploy.run.summary import plot_success_curve, summary_text
from moto_rl.learner.service import learner_actor
from moto_rl.storage import TrajectoryStore

log = logging.getLogger("moto.driver")
EVAL_WORKER_INDEX = 10_000
EVAL_ATTEMPTS = 5  # the evaluation worker's deaths in a row (each under an evaluation) that stop the run
OFFLINE_CHUNK = 50  # gradient steps per learner call in the offline phase (progress granularity)


def evaluation_worker(cfg: MotoConfig, board_name: str, fail_after_steps: int | None = None):
    """The run's evaluation worker: stores nothing, restarts without limit, may run beside the driver; its
    index keeps its env seeds apart from the fleet's. ``fail_after_steps``: the worker's test fault hook."""
    options = worker_actor_options(cfg, max_restarts=-1, rollout_nodes=False)
    return RolloutWorker.options(**options).remote(cfg, None, EVAL_WORKER_INDEX, board_name, False, fail_after_steps)


class LearnerLost(UserError):
    """The learner actor died (its node was lost, or the process crashed): the run stops, resumably."""


class Driver:
    def __init__(self, cfg: MotoConfig, run: RunDirectory, checkpoint: Path | None = None):
        self.cfg, self.run_dir, self.checkpoint = cfg, run, checkpoint
        store_url = run.store_url(cfg)
        # Actors on other nodes get absolute paths: nothing may depend on the driver's working directory.
        self.store_url = store_url if "://" in store_url else str(Path(store_url).absolute())
        self.run_path = str(run.path.absolute())
        state = ScheduleState.from_dict(run.read_schedule(checkpoint)) if checkpoint else ScheduleState()
        self.schedule = Schedule(cfg.schedule, cfg.workers.num_workers, state)
        self.writer = Tracker(cfg, run.path, tb_dir=run.tb_dir / "driver")  # TensorBoard + logging.backends
        self.started = time.time()
        self.seconds_before = state.wall_seconds  # earlier sessions of a resumed run, up to its checkpoint
        self.policy_lags: list[int] = []
        self.worker_restarts = 0
        self.scale_request: int | None = None  # the last `moto scale` request acted on
        self.eval_restarts = 0  # the evaluation worker's deaths (a lost node, a crash); not in worker_restarts
        self._eval_deaths_in_row = 0
        self.max_in_flight: dict[int, int] = {}  # fleet size -> most episodes collected at once with it
        self.epsilon_u = float("nan")  # latest model uncertainty on expert episodes (paper Eq. 12)

    # set-up ------------------------------------------------------------------------------------
    def _start_actors(self) -> None:
        cfg, state = self.cfg, self.schedule.state
        check_shared_paths(cfg, Path(self.run_path), self.store_url)
        # The workers open the store at their first episode, so they start first: their processes import
        # torch and MuJoCo and build their envs on the other cores while this one records the demos (on
        # 2 cores that took ~11 s on the learner's path, and slowed its first updates).
        self.board, self.board_name = start_weight_board()
        self.fleet = Fleet(cfg, self.store_url, self.board_name)
        self.fleet.resume_hint = self._resume_hint()
        self.eval_worker = evaluation_worker(cfg, self.board_name)
        if not state.offline_imported:
            prepare_offline_data(cfg, self.store_url)
            state.offline_imported = True
        self._recount_online_episodes()
        use_gpu = cfg.device != "cpu" and ray.cluster_resources().get("GPU", 0) >= 1
        # after the demos: its sampler loads every offline episode at once, in one order, so a seed
        # gives the same offline phase
        self.learner = learner_actor(cfg, use_gpu, learner_resources()).remote(
            cfg, self.store_url, self.run_path, str(self.checkpoint) if self.checkpoint else None
        )

    def _recount_online_episodes(self) -> None:
        """The store is the run's memory: episodes committed after the last checkpoint still count."""
        store = TrajectoryStore.open(self.store_url, create=False)
        markers = [store.marker(eid) for eid in store.episode_ids()]
        online = [m for m in markers if m["meta"]["source"] == "online"]
        self.schedule.state.episodes = len(online)
        self.schedule.state.env_steps = int(sum(m["length"] for m in online))

    # the phases ------------------------------------------------------------------------------------
    def run(self) -> str:
        try:
            self._start_actors()
            self._offline_phase()
            ray.get(self.learner.set_phase.remote("online"))  # rollout workers start: the learner gives back cores
            self._publish()
            if not self.schedule.finished:
                state = self.schedule.state
                log.info(
                    "online fine-tuning: %d of %d episodes collected", state.episodes, self.schedule.target_episodes
                )
            self._online_phase()
            if (
                not self.schedule.state.evals
                or self.schedule.state.evals[-1]["episodes"] != self.schedule.state.episodes
            ):
                self._record_eval(self._evaluate())
            self._save_checkpoint()
            return self._finish()
        except KeyboardInterrupt:  # SIGINT or SIGTERM, in any phase (deploy/run/stopping.py)
            self._stop()
            raise
        except ActorGone as e:  # a restartable actor did not come back (also raised inside a worker's task)
            self.writer.close()
            raise ActorGone(first_line(getattr(e, "cause", e))) from None
        except RayActorError as e:
            if not self._learner_alive():
                self.writer.close()
                raise self._learner_lost(e) from e
            self.writer.close()
            raise UserError(
                f"an actor of the run failed ({first_line(e)}) though the learner still answers; {self._resume_hint()}"
            ) from e

    def _stop(self) -> None:
        """After SIGINT / SIGTERM: a last checkpoint if the learner answers in time, else the last one on disk
        stays as it was; the tracker is closed. `moto train` then shuts Ray down and prints the resume line."""
        if STOP.forced:
            log.warning("%s again: stopping at once; the last checkpoint stays as it was", STOP.name)
        elif hasattr(self, "learner"):
            log.warning(
                "%s: writing a checkpoint (the learner's current call first, at most %.0f s), then stopping the "
                "actors; %s again stops at once",
                STOP.name,
                STOP_CHECKPOINT_TIMEOUT_S,
                STOP.name,
            )
            try:
                final = self._stop_checkpoint()
                log.warning("wrote checkpoint %s", final.name)
            except KeyboardInterrupt:
                log.warning("%s again: no new checkpoint; the last one stays as it was", STOP.name)
            except (GetTimeoutError, RayError, OSError) as e:
                log.warning("no new checkpoint (%s); the last one stays as it was", first_line(e))
        STOP.shutting_down()
        try:
            self.writer.close()
        except Exception as e:  # a tracking backend that fails to close does not hide the resume line
            log.warning("closing the trackers failed: %s", first_line(e))

    def _stop_checkpoint(self) -> Path:
        """The checkpoint of a stopped run: the learner finishes the train() call it is in (if any) before it
        saves, so those updates are counted here from the step it reports."""
        sched = self.schedule
        staging = self.run_dir.staging_dir(sched.learner_steps)
        step = ray.get(self.learner.save.remote(str(staging)), timeout=STOP_CHECKPOINT_TIMEOUT_S)
        if (extra := step - sched.learner_steps) > 0:  # offline updates come before any online one
            offline = min(extra, sched.offline_remaining)
            sched.record_updates(offline, offline=True)
            sched.record_updates(extra - offline, offline=False)
        sched.state.wall_seconds = self.seconds_before + time.time() - self.started
        return self.run_dir.commit_checkpoint(staging, sched.learner_steps, sched.state.to_dict())

    def _resume_hint(self) -> str:
        return (
            f"committed episodes are safe in {self.store_url}; continue the run with "
            f"`moto train --resume {self.run_path}`"
        )

    def _learner_alive(self) -> bool:
        """The learner answers (it has no restarts: a call that failed because it was unreachable for a
        moment is told apart from a dead learner, within ``workers.restart_timeout_s``)."""
        if not hasattr(self, "learner"):
            return True  # the error came before the learner existed: not a lost learner
        try:
            call_restartable(
                self.learner,
                lambda: self.learner.__ray_ready__.remote(),
                "the learner",
                self.cfg.workers.restart_timeout_s,
            )
            return True
        except ActorGone:
            return False

    def _learner_lost(self, error: RayActorError) -> LearnerLost:
        last = self.run_dir.latest_checkpoint()
        where = f"checkpoint {last.name}" if last else "the start of the run (no checkpoint was written yet)"
        cause = first_line(error)
        return LearnerLost(
            f"the learner actor died ({cause}), probably with its node. "
            f"Committed episodes are safe in {self.store_url}; continue the run with "
            f"`moto train --resume {self.run_path}` (it restarts from {where} and recounts "
            f"the episodes committed since from the store)"
        )

    def _offline_phase(self) -> None:
        sched = self.schedule
        bar = tqdm(
            total=self.cfg.schedule.offline_steps,
            initial=sched.state.offline_done,
            desc="offline pre-training",
            unit="step",
            disable=not self.cfg.logging.progress,
        )
        if sched.offline_remaining > 0:
            log.info(
                "offline pre-training: %d of %d gradient steps to go",
                sched.offline_remaining,
                self.cfg.schedule.offline_steps,
            )
        while sched.offline_remaining > 0:
            n = min(OFFLINE_CHUNK, sched.offline_remaining)
            metrics = ray.get(self.learner.train.remote(n))
            self._after_updates(n, offline=True, metrics=metrics)
            bar.update(n)
            bar.set_postfix(
                image=f"{metrics.get('model/image_mse', float('nan')):.4f}",
                reward=f"{metrics.get('model/reward_mse', float('nan')):.4f}",
            )
        bar.close()
        if sched.state.evals == [] and self.cfg.schedule.eval_every_episodes > 0:
            log.info("evaluating the pre-trained policy (%d episodes)", sched.eval_episodes())
            self._record_eval(self._evaluate())  # the curve's first point: the pre-trained policy

    def _online_phase(self) -> None:
        sched, cfg = self.schedule, self.cfg
        total_steps = sched.target_episodes * cfg.env.max_episode_steps
        bar = tqdm(
            total=total_steps,
            initial=min(sched.state.env_steps, total_steps),
            desc="online fine-tuning",
            unit="env step",
            disable=not cfg.logging.progress,
        )
        fleet = self.fleet
        training = None  # ObjectRef of the learner's current train() call
        evaluating = None
        while not sched.finished:
            self._apply_scale_request()
            while fleet.idle and (n := sched.episodes_to_start(fleet.episodes_in_flight, cfg.workers.envs_per_worker)):
                fleet.start_episodes(n)
            self.max_in_flight[fleet.size] = max(self.max_in_flight.get(fleet.size, 0), len(fleet.busy))
            if training is None and sched.online_due > 0:
                training_n = min(sched.online_due, cfg.schedule.updates_per_episode)
                training = self.learner.train.remote(training_n)
            waiting = list(fleet.busy) + list(fleet.reviving) + [r for r in (training, evaluating) if r is not None]
            ready, _ = ray.wait(waiting, num_returns=1, timeout=1.0)  # wake up at least once a second
            if not ready:
                continue
            ref = ready[0]
            if ref is training:
                training = None
                self._after_updates(training_n, offline=False, metrics=ray.get(ref))
                self._publish()
            elif ref is evaluating:
                if (stats := self._eval_result(ref)) is None:
                    evaluating = self._launch_eval()  # the worker died under it: again, on the restarted worker
                else:
                    evaluating = None
                    self._record_eval(stats)
            elif ref in fleet.reviving:
                i = fleet.reviving[ref]
                if fleet.revived(ref):
                    log.info("rollout worker %d is back", i)
            else:
                for episode in self._rollout_result(ref):
                    eval_due = self._record_episode(episode)
                    bar.update(episode.length)
                    if eval_due and evaluating is None:
                        evaluating = self._launch_eval()
            last = sched.state.evals[-1]["success_rate"] if sched.state.evals else float("nan")
            bar.set_postfix(
                workers=fleet.size, episodes=sched.state.episodes, learner=sched.learner_steps, success=f"{last:.2f}"
            )
        if evaluating is not None:
            self._record_eval(self._evaluate(evaluating))
        bar.close()

    def _rollout_result(self, ref) -> list[EpisodeStats]:
        """The episodes of a rollout worker's finished run() call; none if the worker died under it."""
        i = self.fleet.finished(ref)
        try:
            return ray.get(ref)
        except RayActorError as e:  # the episode in flight is lost (never half-stored); Ray restarts the actor
            log.warning(
                "rollout worker %d died (%s); its episodes in flight are lost and Ray restarts it, on "
                "another node if its node is gone",
                i,
                type(e).__name__,
            )
            self.worker_restarts += 1
            self.writer.add_scalar("workers/restarts", self.worker_restarts, self.schedule.state.env_steps)
            self.fleet.revive(i)
            return []

    def _apply_scale_request(self) -> None:
        wanted = read_scale_request(self.run_dir.path)
        if wanted is None or wanted == self.scale_request:
            return
        self.scale_request = n = wanted
        if not self.cfg.workers.ray_address:
            # A local Ray keeps the CPU count it started with and no node joins: a worker beyond it would
            # never be placed, and the run would wait for its episode forever. (Its total, not what is free
            # now: CPUs held for a moment, by a restarting worker or a finished run's actors, come back.)
            n = min(wanted, local_worker_capacity(ray.cluster_resources().get("CPU", 0.0)))
            if n < wanted:
                log.warning(
                    "moto scale asked for %d rollout workers; the local Ray has room for %d (its CPUs are fixed "
                    "when it starts: max(cores, workers.num_workers + 2), one each for the learner, the evaluation "
                    "worker and every rollout worker), so the run goes on with %d. For more, start the run with "
                    "workers.num_workers=%d, or on a Ray cluster (workers.ray_address)",
                    wanted,
                    n,
                    n,
                    wanted,
                )
        if n != self.fleet.size:
            log.info("scaling rollout workers %d -> %d", self.fleet.size, n)
            self.fleet.resize(n)
            self.schedule.max_backlog = max(1, n)
            self.writer.add_scalar("workers/count", n, self.schedule.state.env_steps)

    # bookkeeping ----------------------------------------------------------------------------------
    def _after_updates(self, n: int, offline: bool, metrics: dict) -> None:
        sched = self.schedule
        before = sched.learner_steps
        sched.record_updates(n, offline)
        step = sched.learner_steps
        for key in (
            "model/image_mse",
            "model/reward_mse",
            "model/kl",
            "actor/loss",
            "critic/loss",
            "learner_steps_per_s",
        ):
            if key in metrics:
                self.writer.add_scalar(f"driver/{key}", metrics[key], step)
        for key, value in metrics.items():  # TensorBoard has these from the learner itself; W&B / MLflow get them here
            self.writer.add_scalar(f"learner/{key}", value, step, tensorboard=False)
        if "diag/epsilon_u" in metrics:
            self.epsilon_u = metrics["diag/epsilon_u"]
        every = self.cfg.schedule.checkpoint_every
        if every and step // every > before // every:
            self._save_checkpoint()

    def _record_episode(self, episode: EpisodeStats) -> bool:
        sched = self.schedule
        eval_due = sched.record_episode(episode.length)
        lag = max(0, sched.learner_steps - episode.policy_version)
        self.policy_lags.append(lag)
        x = sched.state.env_steps
        sched.state.episode_curve.append([x, float(episode.success), float(episode.episode_return)])
        self.writer.add_scalar("train/return", episode.episode_return, x)
        self.writer.add_scalar("train/success", float(episode.success), x)
        self.writer.add_scalar("train/policy_lag_steps", lag, x)
        self.writer.add_scalar("train/policy_version", episode.policy_version, x)
        self.writer.add_scalar("train/episodes", sched.state.episodes, x)
        self.writer.add_scalar("train/env_steps_per_s", x / max(time.time() - self.started, 1e-6), x)
        return eval_due

    def _publish(self) -> None:
        """New weights for the workers: the ref goes on the board, the data stays in the object store.

        Not waited on: a publish to a restarting board is lost, and the restarted (empty) board gets the
        next one; the workers keep their weights meanwhile."""
        self.board.publish.remote(self.schedule.learner_steps, [self.learner.policy_weights.remote()])

    def _launch_eval(self):
        # eval results are logged at the env step at which they were launched
        self._eval_launched_at = (
            self.schedule.state.env_steps,
            self.schedule.state.episodes,
            self.schedule.learner_steps,
        )
        return self.eval_worker.run.remote(
            self.schedule.eval_episodes(), deterministic=True, source="eval", store=False, record_frames=True
        )

    def _eval_result(self, ref) -> list[EpisodeStats] | None:
        """The evaluation's episodes, or None if the evaluation worker died under it (its node lost, a
        crash): it stores nothing, and Ray restarts it (max_restarts=-1), so the evaluation can run again.
        The run stops after EVAL_ATTEMPTS deaths in a row."""
        try:
            stats = ray.get(ref)
        except RayActorError as e:
            self.eval_restarts += 1
            self._eval_deaths_in_row += 1
            self.writer.add_scalar("workers/eval_restarts", self.eval_restarts, self.schedule.state.env_steps)
            if self._eval_deaths_in_row >= EVAL_ATTEMPTS:
                raise UserError(
                    f"the evaluation worker died {EVAL_ATTEMPTS} times in a row ({first_line(e)}); its log is "
                    f"in the Ray session's logs. Committed episodes are safe; continue with "
                    f"`moto train --resume {self.run_path}`"
                ) from e
            log.warning(
                "the evaluation worker died (%s); Ray restarts it, on another node if its node is gone, "
                "and the evaluation runs again with the latest weights",
                first_line(e),
            )
            # calls made while it restarts would fail too; bounded (workers.restart_timeout_s)
            wait_until_ready(
                self.eval_worker,
                self.cfg.workers.restart_timeout_s,
                "the evaluation worker",
                self._resume_hint(),
                first_error=e,
            )
            return None
        self._eval_deaths_in_row = 0
        return stats

    def _evaluate(self, ref=None) -> list[EpisodeStats]:
        """Wait for the evaluation ``ref`` (default: launch one now), launching it again if the evaluation
        worker dies under it."""
        while (stats := self._eval_result(ref if ref is not None else self._launch_eval())) is None:
            ref = None
        return stats

    def _record_eval(self, stats: list[EpisodeStats]) -> None:
        env_steps, episodes, learner_steps = self._eval_launched_at
        video = next((s.frames for s in stats if s.frames is not None), None)
        success = float(np.mean([s.success for s in stats])) if stats else 0.0
        ret = float(np.mean([s.episode_return for s in stats])) if stats else 0.0
        state = self.schedule.state
        state.evals.append(
            {
                "env_steps": env_steps,
                "episodes": episodes,
                "learner_steps": learner_steps,
                "success_rate": success,
                "mean_return": ret,
                "epsilon_u": self.epsilon_u,
                "eval_episodes": len(stats),
            }
        )
        self.writer.add_scalar("eval/success_rate", success, env_steps)
        self.writer.add_scalar("eval/return", ret, env_steps)
        if video is not None:
            self._save_video(np.asarray(video), env_steps)
        self.run_dir.write_curves(state.evals)

    def _save_video(self, frames: np.ndarray, env_steps: int) -> None:
        """frames (T, H, W, 3) uint8 -> a GIF in videos/ that also plays in TensorBoard (and W&B, MLflow),
        and a filmstrip."""
        path = self.run_dir.videos_dir / f"eval_{env_steps:08d}.gif"
        self.writer.add_gif("eval/video", frames, env_steps, path=path, fps=12.5, scale=2)
        strip = np.concatenate(list(frames[:: max(1, len(frames) // 10)][:10]), axis=1)  # (H, 10W, 3)
        self.writer.add_image("eval/filmstrip", strip, env_steps, dataformats="HWC")

    def _save_checkpoint(self) -> None:
        with STOP.deferred():  # a first SIGINT / SIGTERM waits for the checkpoint (deploy/run/stopping.py)
            staging = self.run_dir.staging_dir(self.schedule.learner_steps)
            ray.get(self.learner.save.remote(str(staging)))
            self.schedule.state.wall_seconds = self.seconds_before + time.time() - self.started
            self.run_dir.commit_checkpoint(staging, self.schedule.learner_steps, self.schedule.state.to_dict())

    def _finish(self) -> str:
        state = self.schedule.state
        self.run_dir.write_curves(state.evals)
        plot_success_curve(state.evals, state.episode_curve, self.cfg, self.run_dir.plot_path)
        store = TrajectoryStore.open(self.store_url, create=False)
        stats = store.stats()
        extra = {
            "policy lag (steps)": f"mean {np.mean(self.policy_lags):.1f}, max {max(self.policy_lags)}"
            if self.policy_lags
            else "n/a",
            "worker restarts": str(self.worker_restarts)
            + (f"  (and the evaluation worker {self.eval_restarts}x)" if self.eval_restarts else ""),
            "learner device": ray.get(self.learner.precision.remote()),
            "store": f"{self.store_url}  ({stats.get('episodes')} episodes, {stats.get('frames')} frames)",
        }
        ray.get(self.learner.close.remote())  # flush TensorBoard, stop the sampler's threads
        state.wall_seconds = self.seconds_before + time.time() - self.started  # the work lost to a kill is not in it
        text = summary_text(self.cfg, state.to_dict(), self.run_dir.path, state.wall_seconds, extra)
        self.run_dir.summary_path.write_text(text)
        last = state.evals[-1] if state.evals else {}
        final = {k: float(last[k]) for k in ("success_rate", "mean_return", "env_steps", "learner_steps") if k in last}
        self.writer.log_summary(text, final)
        self.writer.close()
        return text
