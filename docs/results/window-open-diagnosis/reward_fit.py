"""Window-open's offline reward fit against pre-training steps and model size, from the runs' TensorBoard logs.

    .venv/bin/python docs/results/window-open-diagnosis/reward_fit.py RUN_DIR [RUN_DIR ...] --out DIR

Each RUN_DIR is a `moto train ... schedule.online_steps=0` run (offline pre-training only); its
`learner/model/reward_mse` (squared error of the reward head on demo batches) is written to
DIR/reward_fit.csv (run, step, reward_mse), summarised as means over 250-step windows, and drawn in
DIR/reward_fit.png.
"""

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TAG = "learner/model/reward_mse"
CONSTANT_PREDICTOR = 0.238  # window-open's demo labels against their mean (docs/results/window-open-diagnosis.md)


def read(run: Path) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(run / "tb" / "learner"), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(TAG)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    curves = {run.name: read(run) for run in args.runs}
    with open(args.out / "reward_fit.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "step", "reward_mse"])
        for name, points in curves.items():
            writer.writerows([name, step, f"{value:.5f}"] for step, value in points)
    print("run | " + " | ".join(f"steps {lo + 1}-{lo + 250}" for lo in range(0, 3000, 250)))
    for name, points in curves.items():
        cells = []
        for lo in range(0, 3000, 250):
            window = [v for s, v in points if lo < s <= lo + 250]
            cells.append(f"{sum(window) / len(window):.3f}" if window else "-")
        print(name + " | " + " | ".join(cells))
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=110)
    for name, points in curves.items():
        ax.plot([s for s, _ in points], [v for _, v in points], label=name, lw=1.2)
    ax.axhline(CONSTANT_PREDICTOR, color="grey", ls="--", lw=1, label="constant predictor")
    ax.set_xlabel("offline pre-training step")
    ax.set_ylabel("reward MSE on demo batches")
    ax.set_title("window-open: the reward head's fit on the 10 demos")
    ax.set_ylim(0, 0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "reward_fit.png")


if __name__ == "__main__":
    main()
