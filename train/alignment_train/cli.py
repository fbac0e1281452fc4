"""``alignment-train <stage> [--config FILE.toml] [--set key=value ...] [--resume]``.

Stages: sft, rm, ppo, dpo, kto, orpo, and ``all`` (the whole pipeline, then a table of
true reward and KL per stage). Later stages need an SFT model (and PPO a reward model); with
the default paths, a missing one is trained first with default settings.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from . import dpo, kto, orpo, ppo, reward_model, sft
from .common import ConfigError
from .engine import BaseConfig, TrainingStopped, parse_config

STAGES: dict[str, tuple[type[BaseConfig], Callable[..., dict[str, Any]]]] = {
    "sft": (sft.SFTConfig, sft.train),
    "rm": (reward_model.RMConfig, reward_model.train),
    "ppo": (ppo.PPOConfig, ppo.train),
    "dpo": (dpo.DPOConfig, dpo.train),
    "kto": (kto.KTOConfig, kto.train),
    "orpo": (orpo.ORPOConfig, orpo.train),
}


def field_docs(cls: type) -> dict[str, str]:
    """The string literal under each dataclass field (base classes first)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(inspect.getsource(klass)).body[0].body  # type: ignore[attr-defined]
        for a, b in itertools.pairwise(body):
            if (isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name)
                    and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)):
                docs[a.target.id] = str(b.value.value)
    return docs


def describe(stage: str) -> str:
    cls = STAGES[stage][0]
    docs, cfg = field_docs(cls), cls()
    return "\n".join(f"  {f.name} = {getattr(cfg, f.name)!r}\n      {docs.get(f.name, '')}"
                     for f in dataclasses.fields(cls))


def ensure_inputs(stage: str, cfg: BaseConfig) -> None:
    """Train missing upstream models when the default paths are used."""
    if getattr(cfg, "model", "tiny") != "tiny":
        return
    needs = []
    if stage in ("rm", "ppo", "dpo", "kto") and cfg.init_from == "runs/sft":
        needs.append(("sft", "runs/sft"))
    if stage == "orpo" and cfg.eval_ref == "runs/sft":
        needs.append(("sft", "runs/sft"))
    if stage == "ppo" and cfg.reward_from == "runs/rm":
        needs.append(("rm", "runs/rm"))
    for dep, path in needs:
        if not os.path.exists(os.path.join(path, "model.pt")):
            print(f"[{stage}] no {dep} model at {path}: training it first "
                  f"(alignment-train {dep})", file=sys.stderr)
            dep_cfg = STAGES[dep][0](seed=cfg.seed, threads=cfg.threads, device=cfg.device)
            ensure_inputs(dep, dep_cfg)
            STAGES[dep][1](dep_cfg)


def run_stage(stage: str, config: str | None, sets: list[str], resume: bool) -> dict[str, Any]:
    cls, train = STAGES[stage]
    cfg = parse_config(cls, config, sets)
    cfg.validate()  # before training any missing upstream model
    ensure_inputs(stage, cfg)
    return train(cfg, resume=resume)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="alignment-train", description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=[*STAGES, "all"], help="which stage to run")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file of key = value settings")
    p.add_argument("--set", dest="sets", nargs="+", action="extend", default=[],
                   metavar="KEY=VALUE", help="override settings (after --config)")
    p.add_argument("--model", help="local Hugging Face model folder (same as --set model=PATH)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="same as --set device=...")
    p.add_argument("--resume", action="store_true", help="continue from out_dir/ckpt.pt")
    p.add_argument("--list", action="store_true", help="list this stage's settings and exit")
    args = p.parse_args(argv)
    sets = list(args.sets)
    sets += [f"model={args.model}"] if args.model else []
    sets += [f"device={args.device}"] if args.device else []
    if args.list:
        for stage in STAGES if args.stage == "all" else [args.stage]:
            print(f"{stage}:\n{describe(stage)}")
        return 0
    try:
        if args.stage != "all":
            run_stage(args.stage, args.config, sets, args.resume)
            return 0
        results = {s: run_stage(s, args.config, sets, args.resume) for s in STAGES}
        print(json.dumps(pipeline_table(results), indent=2))
        return 0
    except (ConfigError, FileNotFoundError) as e:
        print(f"alignment-train: error: {e}", file=sys.stderr)
        return 2
    except TrainingStopped as e:
        print(f"alignment-train: {e}", file=sys.stderr)
        return 1


def pipeline_table(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """True reward and KL to the SFT model after each stage (held-out prompts)."""
    table: dict[str, Any] = {"sft": results["sft"]["after"]["true_reward"]}
    table["rm_heldout_accuracy"] = results["rm"]["heldout_accuracy"]
    for s in ("ppo", "dpo", "kto", "orpo"):
        a = results[s]["after"]
        table[s] = {"true_reward": a["true_reward"], "kl": a["kl"], "length": a["length"]}
    return table


if __name__ == "__main__":
    sys.exit(main())
