"""Diagnostics the paper reports, written to TensorBoard.

- scalars: every metric ``Learner.train_step`` returns;
- open-loop video prediction (Figure 1): real context frames, then model frames under the recorded
  actions, truth | model | error side by side;
- predicted vs true reward along given episodes (Figure 4), a matplotlib plot;
- epsilon_u (Eq. 12): the mean penalty u along model rollouts that follow the expert's recorded
  actions from the expert's posterior states.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from moto_rl.common.episode import Episode
from moto_rl.common.networks import RSSMState, sample_onehot
from moto_rl.common.video import add_gif, save_gif
from moto_rl.learner.imagination import pick_member, uncertainty_penalty
from moto_rl.learner.world_model import WorldModel


def log_scalars(writer, metrics: dict[str, float], step: int) -> None:
    for key, value in metrics.items():
        writer.add_scalar(key, value, step)


def _episode_tensors(episode: Episode, device: torch.device, length: int | None = None):
    n = episode.image.shape[0] if length is None else min(length, episode.image.shape[0])
    image = torch.from_numpy(episode.image[:n]).unsqueeze(0).to(device)  # (1, T, H, W, 3)
    action = torch.from_numpy(episode.action[:n]).unsqueeze(0).to(device)  # (1, T, A)
    is_first = torch.zeros(1, n, dtype=torch.bool, device=device)
    is_first[0, 0] = True
    return image, action, is_first


@torch.no_grad()
def posterior(wm: WorldModel, episode: Episode, length: int | None = None) -> tuple[RSSMState, torch.Tensor]:
    """Posterior states of one episode (fields (T, ·)) and its actions (T, A)."""
    device = next(wm.parameters()).device
    image, action, is_first = _episode_tensors(episode, device, length)
    post, _ = wm.rssm.observe(wm.embed(image), action, is_first)
    return RSSMState(post.deter[0], post.stoch[0]), action[0]


@torch.no_grad()
def open_loop_prediction(wm: WorldModel, episode: Episode, context: int = 5, horizon: int = 45) -> np.ndarray:
    """(T, H, 3W, 3) uint8 video: truth | model | |error|. Model frames are posterior reconstructions for
    the ``context`` frames, then open-loop prior predictions (mean ensemble member) under recorded actions."""
    length = min(context + horizon, episode.image.shape[0])
    post, action = posterior(wm, episode, length)
    feats = [post.feat[:context]]  # (context, F)
    state = RSSMState(post.deter[context - 1 : context], post.stoch[context - 1 : context])
    for t in range(context, length):
        deter = wm.rssm.deter_step(state, action[t : t + 1])
        state = RSSMState(deter, sample_onehot(pick_member(wm.rssm.prior_logits(deter), "mean")))
        feats.append(state.feat)
    recon = wm.decoder(torch.cat(feats)).clamp(-0.5, 0.5) + 0.5  # (T, 3, 64, 64)
    model = (recon.movedim(1, -1).cpu().numpy() * 255).astype(np.uint8)  # (T, 64, 64, 3)
    truth = episode.image[:length]
    error = np.abs(truth.astype(np.int16) - model.astype(np.int16)).astype(np.uint8)
    return np.concatenate([truth, model, error], axis=2)


@torch.no_grad()
def reward_prediction(wm: WorldModel, episode: Episode) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, true) rewards along the episode's posterior states, each (T,)."""
    post, _ = posterior(wm, episode)
    return wm.reward(post.feat).float().cpu().numpy(), episode.reward.astype(np.float32)


def reward_mse_ratio(wm: WorldModel, episodes: list[Episode], mean_reward: float) -> float:
    """MSE of the predicted rewards along ``episodes`` over that of the constant ``mean_reward`` (steps 1..T):
    well under 1, the model tracks the reward; about 1, it is no better than a constant."""
    model = base = 0.0
    for ep in episodes:
        pred, true = reward_prediction(wm, ep)
        model += float(np.mean((pred[1:] - true[1:]) ** 2))
        base += float(np.mean((true[1:] - mean_reward) ** 2))
    return model / base if base > 0 else float("nan")


@torch.no_grad()
def expert_log_likelihoods(wm: WorldModel, actor, episodes: list[Episode]) -> tuple[float, float]:
    """Mean log pi(a_{t+1} | s_t) of the episodes' actions on their posterior states, and the same with s_t
    another step's (a fixed permutation), which keeps the actions' overall fit but not the state."""
    feats, actions = [], []
    for ep in episodes:
        post, action = posterior(wm, ep)
        feats.append(post.feat[:-1])
        actions.append(action[1:])
    feat, action = torch.cat(feats), torch.cat(actions)
    other = feat[torch.randperm(len(feat), generator=torch.Generator().manual_seed(0))]
    return float(actor(feat).log_prob(action).mean()), float(actor(other).log_prob(action).mean())


def reward_plot(episodes: list[Episode], wm: WorldModel) -> np.ndarray:
    """A matplotlib figure of predicted vs true reward, as an (H, W, 3) uint8 image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(episodes), 1, figsize=(6, 2.2 * len(episodes)), squeeze=False)
    for ax, ep in zip(axes[:, 0], episodes, strict=False):
        pred, true = reward_prediction(wm, ep)
        ax.plot(true, label="true", color="black")
        ax.plot(pred, label="model", color="tab:orange")
        ax.set_xlabel("step")
        ax.set_ylabel("reward")
    axes[0, 0].legend(loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    buf.seek(0)
    from PIL import Image

    return np.asarray(Image.open(buf).convert("RGB"))


@torch.no_grad()
def epsilon_u(wm: WorldModel, episodes: list[Episode], horizon: int = 15, reduce: str = "mean") -> float:
    """Eq. 12: mean u along model rollouts that follow the expert's recorded actions from every
    expert posterior state s^0_j (rollout length min(horizon, steps left in the episode))."""
    penalties = []
    for ep in episodes:
        post, action = posterior(wm, ep)
        t_len = action.shape[0]
        state = post
        for k in range(1, min(horizon, t_len - 1) + 1):
            n = t_len - k  # starts j = 0 .. T-1-k that still have a recorded action a_{j+k}
            state = RSSMState(state.deter[:n], state.stoch[:n])
            deter = wm.rssm.deter_step(state, action[k : k + n])
            logits = wm.rssm.prior_logits(deter)  # (M, n, S, C)
            penalties.append(uncertainty_penalty(logits, reduce))
            state = RSSMState(deter, sample_onehot(pick_member(logits, "random")))
    return float(torch.cat(penalties).mean()) if penalties else 0.0


def log_diagnostics(
    learner, episodes: list[Episode], writer, step: int, max_episodes: int = 3, video_dir=None
) -> dict[str, float]:
    """Video, reward plot and epsilon_u on ``episodes`` (e.g. the offline expert demos).

    With ``video_dir`` the open-loop prediction is also saved as ``openloop_<step>.gif`` there."""
    wm = learner.world_model
    episodes = episodes[:max_episodes]
    if not episodes:
        return {}
    was_training = wm.training
    wm.eval()
    # The rollouts draw latents (the open-loop video, epsilon_u): on a forked RNG, so that when and how
    # often diagnostics run never changes the updates after them.
    try:
        with torch.random.fork_rng(devices=[learner.device] if learner.cuda else []):
            video = open_loop_prediction(wm, episodes[0])  # (T, H, W, 3)
            add_gif(writer, "diag/open_loop", video, step)  # an animated GIF in TensorBoard's Images tab
            writer.add_image("diag/open_loop_strip", np.concatenate(list(video[::5]), axis=0), step, dataformats="HWC")
            if video_dir is not None:
                save_gif(video, Path(video_dir) / f"openloop_{step:08d}.gif")
            writer.add_image("diag/reward_prediction", reward_plot(episodes, wm), step, dataformats="HWC")
            eps = epsilon_u(wm, episodes, learner.cfg.algo.imag_horizon, learner.cfg.algo.penalty_reduce)
            writer.add_scalar("diag/epsilon_u", eps, step)
    finally:
        wm.train(was_training)
    return {"diag/epsilon_u": eps}
