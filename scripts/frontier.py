"""True reward vs KL frontier on the default task: DPO at several beta, PPO at several KL
coefficients (against the learned reward model, which inherits the labeller's length bias).

    .venv/bin/python scripts/frontier.py            # about 2 min on 2 idle CPU cores
    .venv/bin/python scripts/frontier.py --quick    # 3 points per method, half the steps

Writes runs/frontier/frontier.json and runs/frontier/frontier.png / .svg (gitignored).
Reuses runs/sft and runs/rm when present (else trains them with the defaults). The picture
is the one of Rafailov et al. 2023, Fig. 2 (left), and Gao et al. 2022: more KL buys true
reward up to a point; against a flawed reward model, past that point it buys length.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from alignment_train import cli, dpo, ppo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 points per method, shorter runs")
    ap.add_argument("--out", default="runs/frontier", help="output folder")
    ap.add_argument("--runs", default="runs", help="folder holding (or receiving) sft/ and rm/")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    for stage in ("sft", "rm"):
        if not (runs / stage / "model.pt").exists():
            extra = [f"init_from={runs / 'sft'}"] if stage == "rm" else []
            cli.run_stage(stage, None, [f"out_dir={runs / stage}", *extra], False)
    betas = [0.03, 0.1, 0.3, 1.0] if not args.quick else [0.03, 0.1, 1.0]
    kls = [0.05, 0.2, 0.5, 1.0] if not args.quick else [0.05, 0.3, 1.0]
    scale = 0.5 if args.quick else 1.0
    points: dict[str, list[dict[str, float]]] = {"dpo": [], "ppo": []}
    sft = None
    for beta in betas:
        s = dpo.train(dpo.DPOConfig(out_dir=str(out / f"dpo-{beta}"), init_from=str(runs / "sft"),
                                    beta=beta, steps=int(250 * scale)))
        sft = s["before"]
        points["dpo"].append({"beta": beta, **s["after"]})
    for kl in kls:
        s = ppo.train(ppo.PPOConfig(out_dir=str(out / f"ppo-{kl}"), init_from=str(runs / "sft"),
                                    reward_from=str(runs / "rm"), kl_coef=kl, steps=int(60 * scale)))
        points["ppo"].append({"kl_coef": kl, **s["after"]})
    result = {"sft": sft, **points}
    (out / "frontier.json").write_text(json.dumps(result, indent=2) + "\n")
    draw(result, out)
    print(json.dumps(result, indent=2))
    return 0


def draw(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    sft = result["sft"]
    ax.scatter([0], [sft["true_reward"]], color="black", zorder=3, label="SFT (reference)")
    for name, key, color in (("dpo", "beta", "tab:blue"), ("ppo", "kl_coef", "tab:orange")):
        pts = [{**sft, key: float("nan")}, *sorted(result[name], key=lambda p: p["kl"])]
        ax.plot([p["kl"] for p in pts], [p["true_reward"] for p in pts], "o-", color=color,
                label=f"{name.upper()} (label: {key})")
        for p in pts[1:]:
            ax.annotate(f"{p[key]:g}", (p["kl"], p["true_reward"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=8, color=color)
    ax.set_xlabel("KL(π ‖ π_SFT) per response (nats, exact per token)")
    ax.set_ylabel("true reward (held-out prompts)")
    ax.set_title("True reward vs KL on the default task")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "frontier.png", dpi=150)
    fig.savefig(out / "frontier.svg")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
