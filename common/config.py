"""The one typed configuration of a moto run (omegaconf structured config).

Every field is declared here once, with what it means. Presets in ``configs/`` only set values:
``configs/local.yaml`` (the defaults of ``moto train``), ``configs/sizes/{tiny,small,paper}.yaml``,
``configs/tasks/<suite>/<name>.yaml`` and ``configs/ablations/<name>.yaml``. The command line
selects presets with ``size=``, ``task=``, ``ablation=`` and overrides any field with a
``key=value`` dotlist, e.g. ``moto train size=tiny algo.imag_horizon=5``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EnvConfig:
    task: str = "metaworld/drawer-open"  # SUITE/NAME, one of `moto envs`; set by the task preset
    image_size: int = 64  # frames are (image_size, image_size, 3) uint8; the networks expect 64
    action_repeat: int = 2  # simulator steps per agent step (paper: 2 on MetaWorld, 1 on Kitchen)
    max_episode_steps: int = 100  # agent steps per episode (MetaWorld 100, Kitchen 280)
    fast_render: bool = True  # no MSAA, shadows or reflections, small offscreen buffer (~8x faster on CPU)
    gl_backend: str = "egl"  # MUJOCO_GL: egl (default, works headless) | osmesa | glfw
    camera: str = "paper"  # MetaWorld: "paper" (the authors' free camera) or a named model camera
    kitchen_camera: str = "scene"  # Kitchen: "scene" (whole-scene free camera)


@dataclass
class ModelConfig:
    """Network sizes. `configs/sizes/*.yaml` sets them; `paper` is the paper's appendix C.3."""

    cnn_depth: int = 32  # encoder channels are depth * (1, 2, 4, 8) (paper: 48 -> 48, 96, 192, 384)
    decoder_channels: list[int] = field(default_factory=lambda: [128, 64, 32])  # then 3 RGB
    deter: int = 200  # GRU state h_t size (paper/DreamerV2: 600)
    stoch: int = 32  # number of categorical latents in z_t
    classes: int = 32  # classes per categorical latent
    hidden: int = 200  # width of every MLP (paper: 400)
    mlp_layers: int = 4  # layers of reward/continuation heads, actor and critics (paper: 4)
    ensemble: int = 7  # M, prior heads in the ensemble (paper: 7)
    continuation_head: bool = False  # predict c_t; only useful where episodes can terminate (choice)
    norm: str = "layer"  # normalisation inside MLPs and the RSSM: layer | none
    min_std: float = 0.1  # actor's minimum action std


@dataclass
class AlgoConfig:
    """MOTO's losses and their weights (Rafailov et al., CoRL 2023, Sec. 4; docs/training.md)."""

    uncertainty_weight: float = 10.0  # alpha: r_hat = r - alpha * u; 0 is the "No Unc." ablation
    penalty_reduce: str = "mean"  # how u(s, a) reduces std over latent dims to a scalar: mean | max (choice)
    bc_weight: float = 10.0  # beta: weight of the filtered BC term; 0 is the "No BC" ablation
    value_expansion: bool = True  # imagine from every real posterior state and train Q on real data;
    # false gives DreamerV2's imagination-only actor-critic
    critic_data_loss: bool = True  # L_data on real transitions (off in the dreamerv2 ablation)
    imag_horizon: int = 15  # H (choice: DreamerV2 imag_horizon)
    imag_member: str = "random"  # ensemble member for imagined transitions: random | mean (choice)
    gamma: float = 0.99
    lambda_: float = 0.95  # lambda of the lambda-return
    kl_balance: float = 0.8  # DreamerV2 KL balancing (weight on the prior side)
    free_nats: float = 1.0
    kl_scale: float = 1.0
    critic_tau: float = 0.005  # Polyak rate of the target critics (choice)
    actor_entropy: float = 1e-4  # entropy bonus on the actor (DreamerV2 default)
    model_lr: float = 1e-4
    actor_lr: float = 8e-5
    critic_lr: float = 8e-5
    adam_eps: float = 1e-5
    grad_clip: float = 100.0
    batch_size: int = 16  # sequences per world-model batch
    seq_len: int = 50  # steps per sequence (choice: DreamerV2)
    agent_batch: int = 0  # posterior start states per actor-critic update: 0 = every one of the B*T
    # posterior states (the method); N = a random subset of N (the CPU size presets, for speed)


@dataclass
class ScheduleConfig:
    offline_steps: int = 1000  # N_offline gradient steps before online collection (MetaWorld 1000)
    updates_per_episode: int = 20  # G gradient steps per collected episode (MetaWorld 20, Kitchen 50)
    online_steps: int = 20000  # online gradient steps in total (MetaWorld 20,000)
    eval_every_episodes: int = 10  # evaluate after every E collected episodes (0 = never)
    eval_episodes: int = 5  # episodes per evaluation (deterministic policy)
    # episodes of the evaluation after the last online episode (0 = eval_episodes): the final success rate is
    # the figure a study reports, and its 95% interval narrows with episodes (Wilson, 1 of 5: 4-62%; 4 of 20: 8-42%)
    final_eval_episodes: int = 0
    checkpoint_every: int = 500  # gradient steps between checkpoints
    demo_episodes: int = 10  # scripted demos generated when the offline store is missing


@dataclass
class WorkersConfig:
    ray_address: str = ""  # "" = start a local Ray; "auto" or ray://HOST:PORT = join a running cluster
    num_workers: int = 2  # rollout worker actors
    envs_per_worker: int = 1  # environments per worker, stepped in lock-step with batched inference
    weight_sync: str = "episode"  # when workers pick up new weights: episode | steps
    weight_sync_steps: int = 50  # with weight_sync=steps: every K agent steps
    exploration_std: float = 0.0  # extra Gaussian action noise on top of the actor's sample
    render_threads: int = 1  # threads each worker allows (so N workers use N cores)
    # Seconds to wait for Ray to restart a dead actor (a rollout worker, the evaluation worker, the weight
    # board: after a crash or a lost node) before the run stops with a message naming `moto train --resume`.
    # Ray may never place it when no node has room; an autoscaler adding one takes minutes.
    restart_timeout_s: float = 300.0
    # Seconds `moto train` / `moto campaign` wait to join the cluster at ray_address before they stop with
    # a message (Ray itself would retry without end)
    connect_timeout_s: float = 30.0


@dataclass
class StorageConfig:
    url: str = ""  # online store (local path or fsspec URL); "" = <run_dir>/store
    offline_url: str = ""  # offline demos store; "" = runs/demos/<task> (generated when missing)
    max_frames_in_memory: int = 0  # sampler cap; oldest online episodes are evicted (0 = no cap)
    prefetch: int = 2  # batches prepared ahead by the sampler's background thread
    refresh_seconds: float = 0.5  # how often the sampler looks for newly committed episodes


@dataclass
class LoggingConfig:
    root: str = "runs"  # run directories are created under this folder
    log_every: int = 50  # gradient steps between scalar logs
    diagnostics_every: int = 500  # gradient steps between video / reward / epsilon_u diagnostics
    progress: bool = True  # progress bars on the terminal
    backends: list[str] = field(default_factory=lambda: ["tensorboard"])  # any of tensorboard, wandb, mlflow
    # (wandb and mlflow are the extras [wandb] and [mlflow] of moto-rl); see docs/training.md
    wandb_project: str = "moto"  # W&B project; WANDB_MODE=offline keeps the run on disk (wandb sync later)
    mlflow_tracking_uri: str = ""  # "" = a local file store at <run_dir>/mlruns; or http://HOST:5000
    mlflow_experiment: str = "moto"  # MLflow experiment name


@dataclass
class PerfConfig:
    """Speed switches; each is measured by `moto bench learner`."""

    # Each applies on any device. `moto bench learner --switches` measures each on the machine at hand.
    # bf16 autocast of the forward passes (weights and optimiser stay fp32). null (automatic) = on where the
    # hardware computes bf16 natively (CUDA GPUs from Ampere on, CPUs with AVX512-BF16 or AMX), off
    # elsewhere (bf16 converted in software gains little or costs time); true / false force it
    amp_bf16: bool | None = None
    # channels-last memory format for the encoder and decoder convolutions: on by default, the CPU's
    # convolutions run faster in it (small world-model update 6.37 -> 6.11 CPU-s, tiny 0.34 -> 0.31)
    channels_last: bool = True
    fused_adam: bool = False  # Adam's fused single-kernel update (torch's fused=True)
    # torch.compile the filtering cell, the imagined step and the decoder (needs a C++ compiler on CPU)
    compile: bool = False
    # The layers that read z on imagined states (the actor's and the RSSM input's first layers at every
    # imagined step, the reward head's and the critics' first layers) read z's one-hot groups as row
    # lookups (learner/onehot_linear.py) instead of multiplying by the zeros; same values up to rounding
    onehot_rows: bool = True
    # Keep the memory the learner frees for its next step instead of handing it back to the kernel (glibc
    # malloc: no mmap'd blocks, no heap trimming): a CPU update then pays no page faults, for a resident size
    # that stays at its peak (measured figures in learner/allocator.py)
    keep_freed_memory: bool = True
    # The learner's torch intra-op threads on CPU. Online (rollout workers running): 0 = the CPUs Ray gives
    # the learner actor (its num_cpus; outside Ray, torch's default). Offline (pre-training, no worker
    # steps an env): 0 = every core this process may run on. Ray sets OMP_NUM_THREADS=1 for a
    # num_cpus=1 actor; these settings override it.
    torch_threads: int = 0
    offline_torch_threads: int = 0


@dataclass
class MotoConfig:
    size: str = "small"  # size preset that was applied: tiny | small | paper
    ablation: str = "full"  # ablation preset that was applied: full | no-unc | no-bc | no-bc-no-unc | dreamerv2
    seed: int = 0
    device: str = "auto"  # auto (cuda when available) | cpu | cuda | cuda:N
    run_name: str | None = None  # run directory name; None = <task>-<ablation>-s<seed>-<time>
    init_from: str = ""  # fine-tune: start the online phase from these weights (a `moto pretrain` output,
    # a run directory or a checkpoint); the offline phase is skipped. "" = train from scratch
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    perf: PerfConfig = field(default_factory=PerfConfig)
