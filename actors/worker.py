"""Rollout workers: own N envs, act with a CPU policy snapshot (or a scripted expert), store episodes.

``RolloutWorkerCore`` is plain Python (tests drive it without Ray); ``RolloutWorker`` is the Ray
actor around it, created with ``make_rollout_workers``.

Weights reach workers through a ``WeightBoard`` (``actors/weights.py``): the driver publishes the
learner's ``(version, ObjectRef)`` there and workers poll it between episodes
(``workers.weight_sync="episode"``) or every K agent steps (``"steps"``). Without a board (evaluation
of a checkpoint) the caller loads one version with ``load_weights(version, weights)``.

Envs are stepped in lock-step rounds: a round resets ``min(envs, episodes left)`` envs, batches one
policy call over all of them per step, and ends when each has terminated or truncated. With
``weight_sync="episode"`` weights change only between rounds, so each episode has one version; with
``"steps"`` an episode may span versions and records the one that chose its first action.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray

from moto_rl.actors.agents import Agent, LearnedAgent
from moto_rl.actors.threads import limit_threads, thread_env
from moto_rl.actors.weights import BoardWeightSource, Weights, WeightSource
from moto_rl.common.config import MotoConfig, WorkersConfig
from moto_rl.common.episode import EpisodeBuilder, EpisodeMeta, EpisodeStats
from moto_rl.common.restartable import call_restartable
from moto_rl.common.tasks import task_spec

EnvFactory = Callable[[Any, int], Any]  # (EnvConfig, seed) -> env


def derive_seed(*parts: int) -> int:
    """A reproducible 31-bit seed from (run seed, worker index, counter, ...); distinct per tuple."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0] >> 1)


@dataclass
class _Round:
    """The envs of one round: seed and builder of each episode being played (the first k envs), and per
    env slot its latest frame and info and whether it is done (idle slots are done from the start)."""

    seeds: list[int]
    builders: list[EpisodeBuilder]
    frames: np.ndarray  # (envs, H, W, 3) uint8: what the policy sees next
    infos: list[dict | None]
    done: np.ndarray  # (envs,) bool


def _default_env_factory(env_cfg: Any, seed: int) -> Any:
    from moto_rl.common.envs import make_env

    return make_env(env_cfg, seed)


def _default_policy_factory(cfg: MotoConfig, action_dim: int) -> Any:
    from moto_rl.common.policy import Policy

    return Policy(cfg.model, action_dim)


class RolloutWorkerCore:
    """One worker's envs, agent and store handle. Not thread-safe; one ``run`` at a time."""

    def __init__(
        self,
        cfg: MotoConfig,
        store_url: str | None,
        index: int = 0,
        *,
        scripted: bool = False,
        weight_source: WeightSource | None = None,
        env_factory: EnvFactory | None = None,
        policy_factory: Callable[[MotoConfig, int], Any] | None = None,
        seed_salt: int = 0,
    ):
        self.cfg = cfg
        self.index = int(index)
        self.name = f"{'scripted' if scripted else 'worker'}-{index}"
        self.scripted = scripted
        self.weight_source = weight_source
        self.task = task_spec(cfg.env.task)
        self.seed_salt = int(seed_salt)  # non-zero after a restart, so a restarted worker repeats no seed
        self.episode_counter = 0
        self.total_env_steps = 0
        self._steps_since_sync = 0
        make = env_factory or _default_env_factory
        n = cfg.workers.envs_per_worker
        self.envs = [
            make(cfg.env, derive_seed(cfg.seed, self.index, slot, 1 << 20, self.seed_salt)) for slot in range(n)
        ]
        self.action_dim = int(self.envs[0].action_space.shape[0])
        self.agent: Agent
        if scripted:
            from moto_rl.actors.scripted import ScriptedAgent

            self.agent = ScriptedAgent(cfg.env.task, n)
        else:
            policy = (policy_factory or _default_policy_factory)(cfg, self.action_dim)
            rng = np.random.default_rng(derive_seed(cfg.seed, self.index, 2 << 20, self.seed_salt))
            self._seed_torch(derive_seed(cfg.seed, self.index, 3 << 20, self.seed_salt))
            self.agent = LearnedAgent(policy, n, cfg.workers.exploration_std, rng)
        self._store_url = store_url
        self._store: Any = None
        self.policy_seconds = 0.0  # time inside agent.act, for the benchmark's inference share

    @staticmethod
    def _seed_torch(seed: int) -> None:
        try:
            import torch

            torch.manual_seed(seed)
        except ImportError:
            pass

    @property
    def store(self) -> Any:
        if self._store is None:
            if not self._store_url:
                raise ValueError(f"{self.name} has no store URL; pass store=False to run() or give one")
            from moto_rl.storage import TrajectoryStore

            self._store = TrajectoryStore.open(self._store_url, create=True)
        return self._store

    # -- weights ---------------------------------------------------------------------------------

    def load_weights(self, version: int, weights: Weights) -> None:
        """Act with ``weights`` (``Learner.policy_weights()``) from now on, recorded as ``version``."""
        self.agent.load(int(version), weights)  # a ScriptedAgent refuses

    def sync_weights(self) -> bool:
        """Poll the weight source; True when a newer version was loaded."""
        self._steps_since_sync = 0
        if self.scripted or self.weight_source is None:
            return False
        newer = self.weight_source.latest(self.agent.version)
        if newer is None:
            return False
        self.agent.load(*newer)
        return True

    # -- rollouts --------------------------------------------------------------------------------

    def run(
        self,
        n_episodes: int,
        *,
        deterministic: bool = False,
        source: str | None = None,
        store: bool = True,
        record_frames: bool = False,
    ) -> list[EpisodeStats]:
        """Play ``n_episodes`` and return one ``EpisodeStats`` per episode.

        ``source`` defaults to "offline" for scripted workers and "online" otherwise; evaluation
        uses ``deterministic=True, source="eval", store=False``. With ``record_frames`` the first
        episode's stats carry ``frames`` (T+1, H, W, 3) uint8 for a video.
        """
        source = source or ("offline" if self.scripted else "online")
        stats: list[EpisodeStats] = []
        while len(stats) < n_episodes:
            if self.cfg.workers.weight_sync == "episode":
                self.sync_weights()
            k = min(len(self.envs), n_episodes - len(stats))
            stats += self._round(k, deterministic, source, store, record_frames and not stats)
        return stats

    def _round(self, k: int, deterministic: bool, source: str, store: bool, record_frames: bool) -> list[EpisodeStats]:
        """``k`` episodes side by side: reset, step to the end, then store and report each."""
        started = time.perf_counter()
        episodes = self._reset(k)
        first_version = self.agent.version
        self._step_until_done(episodes, deterministic)
        seconds = time.perf_counter() - started
        return [
            self._finish(builder, seed, first_version, seconds, source, store, record_frames and i == 0)
            for i, (builder, seed) in enumerate(zip(episodes.builders, episodes.seeds, strict=True))
        ]

    def _reset(self, k: int) -> _Round:
        """Reset the first ``k`` envs with fresh seeds; the other slots idle (zero frames, done)."""
        n = len(self.envs)
        seeds, builders = [], []
        infos: list[dict | None] = [None] * n
        frames: np.ndarray | None = None
        for i in range(k):
            seed = derive_seed(self.cfg.seed, self.index, self.episode_counter, self.seed_salt)
            self.episode_counter += 1
            obs, info = self.envs[i].reset(seed=seed)
            builder = EpisodeBuilder(self.action_dim)
            builder.reset(obs, info)
            seeds.append(seed)
            builders.append(builder)
            infos[i] = info
            if frames is None:
                frames = np.zeros((n, *obs.shape), np.uint8)  # idle slots keep zero frames
            frames[i] = obs
        assert frames is not None
        done = np.zeros(n, dtype=bool)
        done[k:] = True
        return _Round(seeds, builders, frames, infos, done)

    def _step_until_done(self, episodes: _Round, deterministic: bool) -> None:
        """One batched policy call per step over all envs, until each has terminated or truncated."""
        is_first = np.ones(len(self.envs), dtype=bool)
        limit = self.cfg.env.max_episode_steps  # the env truncates; this only guards against one that does not
        for t in range(limit):
            if self.cfg.workers.weight_sync == "steps" and self._steps_since_sync >= self.cfg.workers.weight_sync_steps:
                self.sync_weights()
            t0 = time.perf_counter()
            actions = self.agent.act(episodes.frames, episodes.infos, is_first, deterministic)
            self.policy_seconds += time.perf_counter() - t0
            is_first[:] = False
            for i in np.flatnonzero(~episodes.done):
                obs, reward, terminated, truncated, info = self.envs[i].step(actions[i])
                episodes.builders[i].step(actions[i], obs, reward, terminated, info)
                episodes.frames[i], episodes.infos[i] = obs, info
                self.total_env_steps += 1
                episodes.done[i] = terminated or truncated or t + 1 == limit
            self._steps_since_sync += 1
            if episodes.done.all():
                break

    def _finish(
        self,
        builder: EpisodeBuilder,
        seed: int,
        first_version: int,
        seconds: float,
        source: str,
        store: bool,
        record_frames: bool,
    ) -> EpisodeStats:
        """Build the episode, append it to the store (unless ``store=False``) and report it."""
        meta = EpisodeMeta(
            task=self.cfg.env.task, source=source, policy_version=first_version, seed=seed, worker=self.name
        )
        episode = builder.build(meta)
        return EpisodeStats(
            episode_id=self.store.append(episode) if store else None,
            episode_return=episode.episode_return,
            success=bool(meta.success),
            length=episode.length,
            policy_version=first_version,
            policy_version_end=self.agent.version,
            env_steps=self.total_env_steps,
            seconds=seconds,
            worker=self.name,
            seed=seed,
            source=source,
            completion=dict(meta.completion),
            frames=episode.image if record_frames else None,
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []


class RolloutWorkerActor:
    """Ray actor body: limits its threads, then builds a ``RolloutWorkerCore``."""

    def __init__(
        self,
        cfg: MotoConfig,
        store_url: str | None,
        index: int,
        board_name: str | None = None,
        scripted: bool = False,
        fail_after_steps: int | None = None,
    ):
        os.environ.update(thread_env(cfg.workers.render_threads))
        os.environ.setdefault("MUJOCO_GL", cfg.env.gl_backend)
        limit_threads(cfg.workers.render_threads)
        ctx = ray.get_runtime_context()
        with warnings.catch_warnings():  # Ray's own property reads its deprecated ``actor_id`` (Ray 2.60)
            warnings.simplefilter("ignore", DeprecationWarning)
            restarted = ctx.was_current_actor_reconstructed
        # A restarted worker gets fresh seeds; the first incarnation's are reproducible.
        salt = time.time_ns() & 0x7FFFFFFF if restarted else 0
        source = BoardWeightSource(board_name, cfg.workers.restart_timeout_s) if board_name is not None else None
        self.core = RolloutWorkerCore(cfg, store_url, index, scripted=scripted, weight_source=source, seed_salt=salt)
        # Fault injection for tests: die (like a crashed process) after this many env steps of the first
        # incarnation, counted over all its runs (so a test can pick which run the crash interrupts).
        if fail_after_steps is not None and not restarted:
            self._arm_failure(fail_after_steps)

    def run(self, n_episodes: int, **kwargs: Any) -> list[EpisodeStats]:
        return self.core.run(n_episodes, **kwargs)

    def _arm_failure(self, after: int) -> None:
        env = self.core.envs[0]
        step, count = env.step, [0]

        def dying_step(action: Any) -> Any:
            count[0] += 1
            if count[0] > after:
                os._exit(1)
            return step(action)

        env.step = dying_step

    def info(self) -> dict:
        return {
            "name": self.core.name,
            "pid": os.getpid(),
            "episodes": self.core.episode_counter,
            "env_steps": self.core.total_env_steps,
            "policy_version": self.core.agent.version,
            "policy_seconds": self.core.policy_seconds,
            "seed_salt": self.core.seed_salt,
            "torch_threads": _torch_threads(),
            "LP_NUM_THREADS": os.environ.get("LP_NUM_THREADS"),
        }


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


RolloutWorker = ray.remote(RolloutWorkerActor)


ROLLOUT_RESOURCE = "rollout"  # custom resource of rollout nodes (deploy/cluster/*.yaml), one unit per worker


def worker_actor_options(cfg: MotoConfig, max_restarts: int = 3, rollout_nodes: bool = True) -> dict:
    """Ray options: one CPU each, thread caps in the process environment, restart on crash.

    ``max_task_retries=0``: a ``run`` interrupted by a crash fails back to the driver (its partial
    episode was never appended) rather than silently replaying with the same seeds. When the cluster
    has rollout nodes (``rollout`` resource) and ``rollout_nodes``, each worker takes one unit there
    and workers are spread over those nodes; a restart after a lost node lands on the remaining ones.
    """
    env_vars = thread_env(cfg.workers.render_threads)
    env_vars["MUJOCO_GL"] = cfg.env.gl_backend
    if cfg.env.gl_backend in ("egl", "osmesa"):
        env_vars["PYOPENGL_PLATFORM"] = cfg.env.gl_backend
    options = {
        "num_cpus": 1,
        "max_restarts": max_restarts,
        "max_task_retries": 0,
        "runtime_env": {"env_vars": env_vars},
    }
    if rollout_nodes and ray.is_initialized() and ray.cluster_resources().get(ROLLOUT_RESOURCE, 0) > 0:
        options.update(resources={ROLLOUT_RESOURCE: 1}, scheduling_strategy="SPREAD")
    return options


def make_rollout_workers(
    cfg: MotoConfig,
    store_url: str | None,
    board_name: str | None = None,
    n: int | None = None,
    scripted: bool = False,
    max_restarts: int = 3,
    first_index: int = 0,
) -> list[Any]:
    """Start ``n`` (default ``workers.num_workers``) RolloutWorker actors; call ``ray.init`` first.

    ``board_name``: the name of the run's ``WeightBoard`` (``start_weight_board``), or None for workers that
    keep their initial policy. Indices (and so seeds and names) run from ``first_index``; give an
    evaluation worker its own range (e.g. ``first_index=1000``) so it never replays a training
    worker's seeds.
    """
    n = cfg.workers.num_workers if n is None else n
    options = worker_actor_options(cfg, max_restarts)
    return [
        RolloutWorker.options(**options).remote(cfg, store_url, first_index + i, board_name, scripted) for i in range(n)
    ]


def wait_until_ready(
    worker: Any,
    timeout_s: float = WorkersConfig.restart_timeout_s,
    what: str = "a rollout worker",
    fix: str = "",
    first_error: BaseException | None = None,
) -> dict:
    """Block until a (possibly restarting) worker answers; returns its ``info()``.

    After a crash Ray restarts the actor, but calls made during the restart fail (``ActorUnavailableError``,
    or ``ActorDiedError`` from the dying process); the driver calls this before resubmitting work to that
    worker. Gives up after ``timeout_s`` (``workers.restart_timeout_s``), or at once when the worker is
    dead for good, with ``moto_rl.common.restartable.ActorGone`` naming ``what`` and ``fix``.
    """
    return call_restartable(worker, lambda: worker.info.remote(), what, timeout_s, fix, first_error)
