"""The ``alignment-train`` command (also ``python -m alignment_train``).

``alignment-train <stage> [--config FILE.toml] [--set KEY=VALUE ...] [--resume] [--list]``, one
subcommand per stage with its own ``--help``. The stage modules (and so torch) are imported
only when a stage's settings are needed, so ``--help`` and ``--version`` work without torch and
everything else says in one sentence what to install.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import itertools
import json
import os
import sys
import textwrap
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from .config import ConfigError, UnknownSetting, parse_config

PROG = "alignment-train"

#: stage -> (module, config class, one-paragraph description for --help)
STAGE_INFO: dict[str, tuple[str, str, str]] = {
    "sft": ("sft", "SFTConfig",
            "Supervised fine-tuning: maximise the log-likelihood of demonstration responses "
            "given their prompts. Starts from `model` (by default a small GPT from random "
            "init on the synthetic task) and writes its model to out_dir (model.pt for the "
            "small GPT, a save_pretrained folder for a Hugging Face model), the start of every "
            "later stage."),
    "rm": ("reward_model", "RMConfig",
           "Reward model: a scalar head on the SFT model's trunk, trained with the "
           "Bradley-Terry loss on preference pairs; reports held-out accuracy and a best-of-n "
           "check. Needs an SFT model (init_from; the default one is trained first if missing)."),
    "ppo": ("ppo", "PPOConfig",
            "RLHF with PPO: sample responses, score them with the reward model, and update "
            "the policy with the clipped objective and a per-token KL penalty to the SFT model. "
            "Needs init_from (SFT) and reward_from (a reward model, or \"true\" for the task's "
            "true reward)."),
    "dpo": ("dpo", "DPOConfig",
            "Direct preference optimisation (loss_type picks DPO/cDPO, robust, hinge/SLiC or "
            "IPO): learn from preference pairs without a reward model; the SFT model "
            "(init_from) is the start and the frozen reference."),
    "kto": ("kto", "KTOConfig",
            "KTO: learn from unpaired thumbs-up / thumbs-down examples (each preference pair "
            "gives one of each), against the SFT model (init_from) as reference."),
    "orpo": ("orpo", "ORPOConfig",
             "ORPO: one stage from the base model, no reference model: the SFT loss on the "
             "chosen response plus an odds-ratio penalty against the rejected one. eval_ref "
             "(the SFT model) is used only to report KL."),
}
PIPELINE = tuple(STAGE_INFO)
ALL_HELP = ("The whole pipeline, sft, rm, ppo, dpo, kto then orpo, each into runs/<stage>, "
            "then a table of true reward and KL per stage. A setting applies to every stage "
            "(so each stage must have it); write dpo.beta=0.3 (or a [dpo] table in the TOML "
            "file) for one stage. --resume continues the stages that have a checkpoint.")

SHORT = {"sft": "supervised fine-tuning on demonstrations",
         "rm": "a Bradley-Terry reward model on preference pairs",
         "ppo": "RLHF: PPO against the reward model, KL penalty to the SFT model",
         "dpo": "DPO (and cDPO, robust, hinge/SLiC, IPO) on preference pairs",
         "kto": "KTO on unpaired thumbs-up / thumbs-down examples",
         "orpo": "ORPO: SFT plus an odds-ratio preference term, no reference model",
         "all": "the whole pipeline, then a table of true reward and KL"}

#: settings that name the output of an earlier stage, and the stage that writes it by default
INPUTS = {"init_from": "sft", "eval_ref": "sft", "reward_from": "rm"}


class TorchMissing(ConfigError):
    """The stages need torch, which this Python cannot import."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("alignment-train")
    except PackageNotFoundError:  # run from a source tree without installing
        return "0+unknown (not installed)"


# ---- the stages, imported lazily ---------------------------------------------------------------
def _import(module: str) -> Any:
    """A module of this package that needs torch, or a one-sentence :class:`TorchMissing`."""
    try:
        return importlib.import_module(f".{module}", __package__)
    except ImportError as e:
        if (e.name or "").split(".")[0] != "torch":
            raise
        raise TorchMissing(f"training needs PyTorch, which this Python ({sys.executable}) "
                           f"cannot import: install it with `pip install alignment-train` "
                           f"(or `pip install torch`)") from None


def stage_entry(stage: str) -> tuple[type[Any], Callable[..., dict[str, Any]]]:
    """(config class, train function) of a stage; imports torch."""
    module, cls, _ = STAGE_INFO[stage]
    mod = _import(module)
    return getattr(mod, cls), mod.train


def field_docs(cls: type) -> dict[str, str]:
    """The string literal under each dataclass field (base classes first, so a subclass's
    docstring wins), with whitespace collapsed."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):  # no source (a frozen or compiled install)
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for a, b in itertools.pairwise(body):
            if (isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name)
                    and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)):
                docs[a.target.id] = " ".join(str(b.value.value).split())
    return docs


def describe(stage: str, cfg: Any = None) -> str:
    """Every setting of a stage: ``key = value``, the default when ``cfg`` differs, and its
    meaning (the field's docstring)."""
    cls = stage_entry(stage)[0]
    docs, default = field_docs(cls), cls()
    cfg = default if cfg is None else cfg
    lines = []
    for f in dataclasses.fields(cls):
        value, was = getattr(cfg, f.name), getattr(default, f.name)
        note = "" if value == was else f"   (default {was!r})"
        lines.append(f"  {f.name} = {value!r}{note}")
        lines += textwrap.wrap(docs.get(f.name, ""), 88, initial_indent=" " * 6,
                               subsequent_indent=" " * 6)
    return "\n".join(lines)


# ---- the parser ------------------------------------------------------------------------------------
class _StageParser(argparse.ArgumentParser):
    """A subcommand whose ``--help`` ends with the stage's settings (imported on demand)."""

    stage = ""

    def format_help(self) -> str:
        text = super().format_help()
        if self.stage == "all":
            return (f"{text}\nsettings: each stage's are in `{PROG} STAGE --help`; "
                    f"`{PROG} all --list` prints them all.\n")
        try:
            listing = describe(self.stage)
        except TorchMissing as e:
            return f"{text}\nsettings: not shown, because {e}\n"
        return (f"{text}\nsettings (--set KEY=VALUE or KEY = VALUE in --config; "
                f"default, then meaning):\n{listing}\n")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Train a language model with SFT, a reward model, PPO, DPO, KTO or ORPO (a readable "
            "PyTorch reference; see docs/training.md). Each stage is a subcommand with its own "
            "--help: what it does and every setting, with its default and meaning.", 88),
        epilog="examples:\n"
               f"  {PROG} sft                         # the synthetic task, tiny GPT, CPU\n"
               f"  {PROG} dpo --help                  # what DPO does and all its settings\n"
               f"  {PROG} dpo --set beta=0.3 steps=100\n"
               f"  {PROG} dpo --config my.toml --list # the settings a run would use\n"
               f"  {PROG} sft --model PATH --data train.jsonl   # a local HF model, your data\n"
               f"  torchrun --nproc_per_node=2 -m alignment_train dpo   # DDP")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="stage", metavar="STAGE", required=True, parser_class=_StageParser)
    for stage, text in [*((s, info[2]) for s, info in STAGE_INFO.items()), ("all", ALL_HELP)]:
        sp = sub.add_parser(stage, help=SHORT[stage], description=textwrap.fill(text, 88),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.stage = stage
        sp.add_argument("--config", metavar="FILE.toml",
                        help="TOML file of KEY = VALUE settings (after the defaults)")
        sp.add_argument("--set", dest="sets", nargs="+", action="extend", default=[],
                        metavar="KEY=VALUE", help="override settings (after --config)")
        sp.add_argument("--model", metavar="PATH",
                        help="local Hugging Face model folder (same as --set model=PATH)")
        sp.add_argument("--data", metavar="PATH",
                        help="your data: a .jsonl file or a folder (same as --set data=PATH)")
        sp.add_argument("--device", choices=["cpu", "cuda"], help="same as --set device=...")
        sp.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint in out_dir")
        sp.add_argument("--list", action="store_true",
                        help="print the settings this run would use (after --config and --set) "
                             "and exit")
    return p


def _stage_first(argv: list[str]) -> list[str]:
    """``--set steps=2 sft`` -> ``sft --set steps=2``: a stage name written after the options
    is moved to the front (``--set`` would otherwise read it as a setting)."""
    names = {*STAGE_INFO, "all"}
    takes_value = {"--config", "--model", "--data", "--device"}
    if not argv or argv[0] in names or argv[0] in ("-h", "--help", "--version"):
        return argv
    for i, arg in enumerate(argv):
        if arg in names and (i == 0 or argv[i - 1] not in takes_value):
            return [arg, *argv[:i], *argv[i + 1:]]
    return argv


# ---- running ---------------------------------------------------------------------------------------
def configure(stage: str, config: str | None, sets: list[str]) -> Any:
    """The validated config of one stage (defaults, then the TOML file, then ``sets``)."""
    cls = stage_entry(stage)[0]
    cfg = parse_config(cls, config, sets, stage=stage, stages=PIPELINE)
    cfg.validate()
    return cfg


def out_dir(stage: str, cfg: Any) -> Path:
    return Path(cfg.out_dir or f"runs/{stage}")


def has_checkpoint(stage: str, cfg: Any) -> bool:
    """A resumable checkpoint in out_dir (``ckpt.pt``, or a sharded ``ckpt*`` folder)."""
    out = out_dir(stage, cfg)
    return out.is_dir() and any(p.suffix != ".tmp" for p in out.glob("ckpt*"))


def check_inputs(stage: str, cfg: Any, made: Collection[str] = ()) -> None:
    """Fail now, before any training, on a model folder or stage output that is not there.

    Outputs in ``made`` (written earlier in this run) and the default ones that
    :func:`ensure_inputs` trains first are fine."""
    model = getattr(cfg, "model", "tiny")
    if model != "tiny":
        if not os.path.isdir(model):
            raise ConfigError(f"{stage}: model={model}: no such folder (a local Hugging Face "
                              f"model folder, or \"tiny\")")
        if not os.path.exists(os.path.join(model, "config.json")):
            raise ConfigError(f"{stage}: model={model}: no config.json in that folder (not a "
                              f"Hugging Face model folder)")
    data = getattr(cfg, "data", "")
    if data and not os.path.exists(data):
        raise ConfigError(f"{stage}: data={data}: no such file or folder (a .jsonl file, or a "
                          f"folder holding train.jsonl or saved by datasets)")
    for key, dep in INPUTS.items():
        path = getattr(cfg, key, "")
        if not path or (key == "reward_from" and path == "true") or path in made:
            continue
        if path == f"runs/{dep}" and model == "tiny":
            continue  # ensure_inputs trains it first
        if not holds_model(path):
            what = "does not exist" if not os.path.exists(path) else "holds no trained model"
            flags = "" if model == "tiny" else f" --model {model}"
            extra = "" if model == "tiny" or key != "init_from" else \
                f", or set init_from= (empty) to start from {model} itself"
            raise ConfigError(f"{stage}: {key}={path} {what} (train {dep} first: "
                              f"`{PROG} {dep}{flags} --set out_dir={path}`{extra})")


def holds_model(path: str) -> bool:
    """A stage's output: a folder with model.pt or a Hugging Face export, or a model file."""
    p = Path(path)
    return p.is_file() or (p / "model.pt").is_file() or (p / "alignment_train.json").is_file()


def ensure_inputs(stage: str, cfg: Any) -> None:
    """Train missing upstream models when the default paths are used (tiny model only)."""
    if getattr(cfg, "model", "tiny") != "tiny":
        return
    for key, dep in INPUTS.items():
        path = getattr(cfg, key, "")
        if path != f"runs/{dep}" or holds_model(path):
            continue
        print(f"[{stage}] no {dep} model at {path}: training it first ({PROG} {dep})",
              file=sys.stderr)
        cls, train = stage_entry(dep)
        dep_cfg = cls(seed=cfg.seed, threads=cfg.threads, device=cfg.device)
        ensure_inputs(dep, dep_cfg)
        train(dep_cfg)


def run_stage(stage: str, config: str | None, sets: list[str], resume: bool) -> dict[str, Any]:
    """Configure, check and run one stage (training missing default upstream models first)."""
    cfg = configure(stage, config, sets)
    if resume and not has_checkpoint(stage, cfg):
        raise ConfigError(f"--resume: no checkpoint in {out_dir(stage, cfg)} (nothing to "
                          f"resume; run without --resume to start)")
    check_inputs(stage, cfg)
    ensure_inputs(stage, cfg)
    return stage_entry(stage)[1](cfg, resume=resume)


def run_all(config: str | None, sets: list[str], resume: bool) -> dict[str, dict[str, Any]]:
    """Every stage in order; all configs are read, validated and checked before any training."""
    cfgs: dict[str, Any] = {}
    for stage in PIPELINE:
        try:
            cfgs[stage] = configure(stage, config, sets)
        except UnknownSetting as e:
            owners = [s for s in PIPELINE
                      if e.keys[0] in {f.name for f in dataclasses.fields(stage_entry(s)[0])}]
            how = (f"put it in a [{owners[0]}] table" if e.source.startswith("config file")
                   else f"write {owners[0]}.{e.keys[0]}=...") if owners else ""
            hint = (f"; {e.keys[0]} is a setting of {', '.join(owners)}: {how} to set it for "
                    f"one stage" if owners else "; no stage has it")
            raise ConfigError(f"all: stage {stage} has no setting {', '.join(e.keys)} "
                              f"(from {e.source}){hint}") from None
        except ConfigError as e:
            raise ConfigError(f"all: stage {stage}: {e}") from None
    outs = {s: str(out_dir(s, c)) for s, c in cfgs.items()}
    if len(set(outs.values())) < len(outs):
        raise ConfigError("all: two stages would write to the same out_dir; set out_dir per "
                          "stage (sft.out_dir=..., rm.out_dir=...) or leave it unset")
    resumable = {s for s, c in cfgs.items() if has_checkpoint(s, c)}
    if resume and not resumable:
        raise ConfigError("--resume: no stage has a checkpoint in its out_dir (nothing to "
                          "resume; run without --resume to start)")
    made: set[str] = set()
    for stage, cfg in cfgs.items():
        check_inputs(stage, cfg, made)
        made.add(outs[stage])
    results = {}
    for stage, cfg in cfgs.items():
        results[stage] = stage_entry(stage)[1](cfg, resume=resume and stage in resumable)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = _stage_first(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():  # the data loader's warnings as one line each
        shown = warnings.showwarning

        def one_line(message: Warning | str, category: type[Warning], *rest: Any,
                     **kw: Any) -> None:
            if category.__name__ == "DataWarning":
                print(f"{PROG}: warning: {message}", file=sys.stderr)
            else:
                shown(message, category, *rest, **kw)

        warnings.showwarning = one_line
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    sets = list(args.sets)
    for flag in ("model", "data", "device"):
        if getattr(args, flag):
            sets.append(f"{flag}={getattr(args, flag)}")
    try:
        if args.list:
            for stage in PIPELINE if args.stage == "all" else [args.stage]:
                cfg = parse_config(stage_entry(stage)[0], args.config, sets, stage=stage,
                                   stages=PIPELINE)
                print(f"{stage}:\n{describe(stage, cfg)}")
                cfg.validate()  # listed first, so a bad value is seen with the rest
            return 0
        stopped = _import("engine").TrainingStopped
        try:
            if args.stage == "all":
                print(json.dumps(pipeline_table(run_all(args.config, sets, args.resume)),
                                 indent=2))
            else:
                run_stage(args.stage, args.config, sets, args.resume)
        except stopped as e:
            print(f"{PROG}: {e}", file=sys.stderr)
            return 1
        return 0
    except (ConfigError, FileNotFoundError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (continue with --resume from the last checkpoint)",
              file=sys.stderr)
        return 130


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
