"""Training plumbing shared by every stage: config, devices, DDP/FSDP, checkpoints, logging.

Nothing here is alignment math; the stage files (``sft.py``, ``dpo.py``, …) hold that.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from .config import ConfigError, parse_config  # noqa: F401  (re-exported)
from .model import GPT, GPTConfig, ScalarModel
from .task import CharTokenizer, Tokenizer

F = TypeVar("F", bound=Callable[..., Any])
LossFn = Callable[[list[int]], tuple[torch.Tensor, dict[str, float]]]
"""A stage's algorithm for one batch: example indices -> (mean loss, metrics to log)."""
StepFn = Callable[[int], dict[str, float]]
"""One training step (or PPO iteration) -> metrics to log."""
Optimizers = torch.optim.Optimizer | Sequence[torch.optim.Optimizer]


class TrainingStopped(RuntimeError):
    """The run stopped on purpose (non-finite loss, or ``stop_after`` in tests)."""


@dataclass
class BaseConfig:
    out_dir: str = ""
    """Where checkpoints, metrics.jsonl and summary.json go (default runs/<stage>)."""
    seed: int = 0
    """Seed for model init, data order and sampling."""
    steps: int = 300
    """Optimizer steps."""
    batch_size: int = 32
    """Global batch (examples per optimizer step, summed over DDP processes)."""
    lr: float = 1e-3
    """Peak learning rate (AdamW), reached after ``warmup`` steps, then constant."""
    warmup: int = 10
    """Linear warm-up steps."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this (0 = off)."""
    model: str = "tiny"
    """"tiny" (our GPT) or a local Hugging Face model folder (needs transformers)."""
    device: str = "cpu"
    """"cpu" or "cuda" (with DDP, each process uses cuda:LOCAL_RANK)."""
    bf16: bool = True
    """Use bf16 autocast on CUDA (ignored on CPU)."""
    fsdp: bool = False
    """Shard the trained model with FSDP instead of DDP under torchrun (large models)."""
    threads: int = 2
    """torch CPU threads per process (0 = torch's default)."""
    log_every: int = 10
    """Write a metrics line every this many steps."""
    ckpt_every: int = 100
    """Save a resumable checkpoint every this many steps."""
    eval_prompts: int = 256
    """Held-out prompts for the before/after true reward and KL."""
    stop_after: int = 0
    """Stop after this many steps as if the process were killed (tests --resume); 0 = never."""

    def validate(self, n_examples: int | None = None) -> None:
        checks = [("lr", self.lr > 0, "> 0"), ("steps", self.steps >= 0, ">= 0"),
                  ("batch_size", self.batch_size > 0, "> 0"), ("warmup", self.warmup >= 0, ">= 0"),
                  ("log_every", self.log_every > 0, "> 0"), ("ckpt_every", self.ckpt_every > 0, "> 0"),
                  ("eval_prompts", self.eval_prompts > 0, "> 0"),
                  ("device", self.device in ("cpu", "cuda"), 'one of "cpu", "cuda"')]
        for name, ok, rule in checks:
            if not ok:
                raise ConfigError(f"{name} must be {rule}, got {getattr(self, name)!r}")
        if self.fsdp and self.device != "cuda":
            raise ConfigError("fsdp=true needs device=cuda (torch's FSDP runs only on GPUs); "
                              "on CPU use DDP: torchrun without fsdp")
        if n_examples is not None and self.batch_size > n_examples:
            raise ConfigError(f"batch_size={self.batch_size} is larger than the data "
                              f"({n_examples} examples); lower batch_size or add data")


# ---- saving and loading models between stages ---------------------------------------------
def save_model(path: Path, model: nn.Module, state: dict[str, Any] | None = None) -> None:
    """Save an LM or a ScalarModel so that :func:`load_model` can rebuild it."""
    model = unwrap(model)
    trunk = model.trunk if isinstance(model, ScalarModel) else model
    arch = ({"arch": "gpt", "gpt": dataclasses.asdict(trunk.config)} if isinstance(trunk, GPT)
            else {"arch": "hf", "path": trunk.path})
    state = {k: v.detach().cpu() for k, v in (state or model.state_dict()).items()}
    tmp = path.with_suffix(".tmp")
    torch.save({**arch, "scalar": isinstance(model, ScalarModel), "state": state}, tmp)
    os.replace(tmp, path)


def load_model(path: str | Path) -> tuple[nn.Module, Tokenizer]:
    """Rebuild a model saved by :func:`save_model` (and its tokenizer)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.exists():
        raise ConfigError(f"model file {path} does not exist (train the stage that makes it first)")
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if blob["arch"] == "gpt":
        trunk: nn.Module = GPT(GPTConfig(**blob["gpt"]))
        tok: Tokenizer = CharTokenizer()
    else:
        from .common import load_hf

        trunk, tok = load_hf(blob["path"])
    model = ScalarModel(trunk) if blob["scalar"] else trunk
    model.load_state_dict(blob["state"])
    return model, tok


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


# ---- one training run --------------------------------------------------------------------
class Run:
    """Devices, distributed set-up, the shared RNG, metrics, checkpoints and NaN stops."""

    def __init__(self, cfg: BaseConfig, stage: str, resume: bool = False) -> None:
        self.cfg, self.stage, self.resume = cfg, stage, resume
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device=cuda but torch sees no CUDA device")
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if cfg.device == "cuda" else "gloo")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(f"cuda:{local}" if cfg.device == "cuda" else "cpu")
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        if cfg.batch_size % self.world:
            raise ConfigError(f"batch_size={cfg.batch_size} must be divisible by the "
                              f"{self.world} processes")
        torch.manual_seed(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)  # data order (same on all processes)
        self.sample_gen = torch.Generator().manual_seed(cfg.seed * 1000 + self.rank + 1)  # sampling
        self.out = Path(cfg.out_dir or f"runs/{stage}")
        self.main = self.rank == 0
        self.metrics_file = self.out / "metrics.jsonl"
        self.ckpt_file = self.out / "ckpt.pt"
        self.last_good: int | None = None
        self._wrapped: list[nn.Module] = []
        self._t0 = self._t_log = time.time()
        self._step_log = 0
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if not resume and self.metrics_file.exists():
                self.metrics_file.unlink()

    # -- devices and wrapping
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda" and self.cfg.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def wrap(self, model: nn.Module) -> nn.Module:
        """Move to the device; under torchrun wrap in DDP (or FSDP if ``fsdp=true``)."""
        model = model.to(self.device)
        if self.world == 1:
            return model
        if self.cfg.fsdp:
            from torch.distributed.fsdp import FullyShardedDataParallel

            wrapped = FullyShardedDataParallel(model, use_orig_params=True)
            self._wrapped.append(wrapped)
            return wrapped
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    @property
    def sharded(self) -> bool:
        return self.cfg.fsdp and self.world > 1

    def inner(self, model: nn.Module) -> nn.Module:
        """The model to call outside training (sampling, evaluation): the bare module under
        DDP; the FSDP wrapper itself under FSDP (it gathers the shards), on every process."""
        return model if self.sharded else unwrap(model)

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This process's contiguous slice of a global batch of indices."""
        per = len(idx) // self.world
        return idx[self.rank * per : (self.rank + 1) * per]

    def batch_indices(self, n: int) -> torch.Tensor:
        """A global batch drawn from the shared generator (identical on every process)."""
        return torch.randperm(n, generator=self.gen)[: self.cfg.batch_size]

    # -- optimisation
    def optimizer(self, params: Any, lr: float | None = None) -> torch.optim.Optimizer:
        """AdamW at peak learning rate ``lr`` (default ``cfg.lr``); :meth:`step` applies the
        warm-up and schedule to it."""
        opt = torch.optim.AdamW(params, lr=self.cfg.lr if lr is None else lr,
                                weight_decay=self.cfg.weight_decay)
        for g in opt.param_groups:
            g["peak_lr"] = g["lr"]
        return opt

    total_steps: int = 0
    """Optimizer steps of the whole run, for the schedule (stages with several updates per
    iteration, like PPO, set it; default ``cfg.steps``)."""

    def lr_factor(self, step: int) -> float:
        """Linear warm-up over ``warmup`` steps, then constant."""
        return min(1.0, (step + 1) / max(1, self.cfg.warmup))

    def step(self, loss_fn: LossFn, idx: Sequence[int], opts: Optimizers,
             step: int) -> dict[str, float]:
        """One optimizer step on this process's examples ``idx``.

        ``loss_fn(idx)`` returns the mean loss over those examples and metrics to log. The
        loss is checked to be finite on every process, back-propagated, the gradient norm
        clipped, and every optimizer in ``opts`` stepped. Returns the metrics (with
        ``loss``)."""
        opts = [opts] if isinstance(opts, torch.optim.Optimizer) else list(opts)
        loss, metrics = loss_fn(list(idx))
        value = self.mean(loss.detach().float())
        if not math.isfinite(value):
            where = (f"the last good checkpoint is {self.ckpt_file} (step {self.last_good})"
                     if self.last_good is not None else "no checkpoint was saved yet")
            raise TrainingStopped(f"{self.stage}: loss became {value} at step {step + 1}; "
                                  f"stopped, {where}. Try a lower lr.")
        factor = self.lr_factor(step)
        for opt in opts:
            for g in opt.param_groups:
                g["lr"] = g["peak_lr"] * factor
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip > 0 and self.sharded:
            for m in self._wrapped:  # FSDP computes the norm over all shards
                m.clip_grad_norm_(self.cfg.grad_clip)  # type: ignore[operator]
        elif self.cfg.grad_clip > 0:
            params = [p for opt in opts for g in opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        for opt in opts:
            opt.step()
        return {"loss": float(loss.detach()), **metrics}

    def batches(self, n_examples: int, loss_fn: LossFn, opts: Optimizers) -> StepFn:
        """The step function of a supervised stage: each step draws a global batch from
        ``n_examples`` (same on every process), keeps this process's shard and calls
        :meth:`step` on it."""
        def one_step(step: int) -> dict[str, float]:
            idx = self.shard(self.batch_indices(n_examples)).tolist()
            return self.step(loss_fn, idx, opts, step)

        return one_step

    def fit(self, models: dict[str, nn.Module], opts: Optimizers, step_fn: StepFn,
            before: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The training loop every stage shares: restore a checkpoint when resuming, measure
        ``before()`` (kept in the checkpoint, so a resumed run reports the same), then for
        each step call ``step_fn(step)``, log its metrics, checkpoint and honour
        ``stop_after``. Returns the "before" measurements."""
        opt_list = [opts] if isinstance(opts, torch.optim.Optimizer) else list(opts)
        extra = self.load_ckpt(models, opt_list)
        measured = extra.get("before") or before()
        for m in models.values():
            m.train()
        for step in range(self.start, self.cfg.steps):
            metrics = step_fn(step)
            self.log(step, metrics)
            self.after_step(step, models, opt_list, {"before": measured})
        return measured

    def mean(self, x: torch.Tensor) -> float:
        """Mean of a scalar over processes."""
        if self.world > 1:
            x = x.to(self.device).clone()
            dist.all_reduce(x)
            x = x / self.world
        return float(x)

    # -- metrics and progress
    def log(self, step: int, metrics: dict[str, float], force: bool = False) -> None:
        if not (force or (step + 1) % self.cfg.log_every == 0 or step + 1 == self.cfg.steps):
            return
        now = time.time()
        ms = 1000 * (now - self._t_log) / max(1, step + 1 - self._step_log)
        self._t_log, self._step_log = now, step + 1
        metrics = {k: self.mean(torch.tensor(float(v))) for k, v in metrics.items()}
        metrics["ms_per_step"] = ms
        if self.main:
            with open(self.metrics_file, "a") as fh:
                fh.write(json.dumps({"step": step + 1, **metrics}) + "\n")
            self.progress(step + 1, metrics)

    def progress(self, done: int, metrics: dict[str, float]) -> None:
        total = max(1, self.cfg.steps)
        bar = "#" * int(20 * done / total)
        rate = done / max(1e-9, time.time() - self._t0)
        shown = " ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:4])
        line = f"[{self.stage}] {bar:<20} {done}/{total} {rate:.1f} it/s {shown}"
        if sys.stderr.isatty():
            print("\r" + line[:150], end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif done == total or done % max(1, total // 5) < self.cfg.log_every:
            print(line, file=sys.stderr, flush=True)

    def say(self, text: str) -> None:
        if self.main:
            print(text, file=sys.stderr, flush=True)

    # -- checkpoints
    def save_ckpt(self, done: int, models: dict[str, nn.Module],
                  opts: list[torch.optim.Optimizer], extra: dict[str, Any]) -> None:
        if self.sharded:
            return  # FSDP runs save only the final model (full state dict gathered on rank 0)
        if self.main:
            blob = {"step": done, "config": dataclasses.asdict(self.cfg), "gen": self.gen.get_state(),
                    "sample_gen": self.sample_gen.get_state(),
                    "models": {k: unwrap(m).state_dict() for k, m in models.items()},
                    "optims": [o.state_dict() for o in opts], "extra": extra}
            tmp = self.ckpt_file.with_suffix(".tmp")
            torch.save(blob, tmp)
            os.replace(tmp, self.ckpt_file)
        self.last_good = done
        if self.world > 1:
            dist.barrier()

    def load_ckpt(self, models: dict[str, nn.Module],
                  opts: list[torch.optim.Optimizer]) -> dict[str, Any]:
        """Restore a checkpoint when resuming; returns its ``extra`` (or {} for a fresh run)."""
        if not self.resume:
            return {}
        if not self.ckpt_file.exists():
            raise ConfigError(f"--resume: no checkpoint at {self.ckpt_file}")
        blob = torch.load(self.ckpt_file, map_location="cpu", weights_only=False)
        now = dataclasses.asdict(self.cfg)
        diff = [k for k in now if k != "stop_after" and blob["config"].get(k) != now[k]]
        if diff:
            raise ConfigError(f"--resume: settings differ from the checkpoint's: {', '.join(diff)}")
        for k, m in models.items():
            unwrap(m).load_state_dict(blob["models"][k])
        for o, state in zip(opts, blob["optims"], strict=True):
            o.load_state_dict(state)
        self.gen.set_state(blob["gen"])
        self.sample_gen.set_state(blob["sample_gen"])
        self.start = self.last_good = self._step_log = int(blob["step"])
        if self.main and self.metrics_file.exists():  # drop lines logged after the checkpoint
            lines = self.metrics_file.read_text().splitlines()
            kept = [ln for ln in lines if json.loads(ln).get("step", 0) <= self.start]
            self.metrics_file.write_text("".join(ln + "\n" for ln in kept))
        self.say(f"[{self.stage}] resumed from {self.ckpt_file} at step {self.start}")
        return dict(blob["extra"])

    start: int = 0

    def after_step(self, step: int, models: dict[str, nn.Module],
                   opts: list[torch.optim.Optimizer], extra: dict[str, Any]) -> None:
        """Checkpoint every ``ckpt_every`` steps; honour ``stop_after``."""
        done = step + 1
        if done % self.cfg.ckpt_every == 0:
            self.save_ckpt(done, models, opts, extra)
        if self.cfg.stop_after and done == self.cfg.stop_after and done < self.cfg.steps:
            raise TrainingStopped(f"{self.stage}: stopped after step {done} (stop_after)")

    def finish(self, model: nn.Module, summary: dict[str, Any], name: str = "model.pt") -> None:
        """Save the final model and summary.json (rank 0) and print before/after."""
        if self.sharded:
            from torch.distributed.fsdp import FullStateDictConfig, StateDictType
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

            full = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
            with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, full):
                state = model.state_dict()
        else:
            state = None
        if self.main:
            save_model(self.out / name, model, state)
            summary = {"stage": self.stage, "seconds": round(time.time() - self._t0, 1), **summary}
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            with open(self.metrics_file, "a") as fh:
                fh.write(json.dumps({"step": self.cfg.steps, "summary": summary}) + "\n")
            self.say(f"[{self.stage}] " + json.dumps(summary))
        if self.world > 1:
            dist.barrier()


def flush_denormals(train: F) -> F:
    """Run a stage's ``train`` with denormal floats flushed to zero: tiny gradients and Adam
    moments otherwise decay into denormals, which are very slow on CPUs. The flag is
    process-wide (NumPy sees it too), so it is restored when training ends."""

    @functools.wraps(train)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        torch.set_flush_denormal(True)
        try:
            return train(*args, **kwargs)
        finally:
            torch.set_flush_denormal(False)

    return wrapper  # type: ignore[return-value]


def start_model(model: str, init_from: str) -> tuple[nn.Module, Tokenizer]:
    """The model a post-SFT stage starts from: a local HF model if ``model`` is a path, else
    the saved output of an earlier stage (``init_from``)."""
    if model != "tiny":
        from .common import build_model

        return build_model(model)
    return load_model(init_from)


def frozen_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """A copy of ``model`` on ``device`` in eval mode with gradients off (pi_ref, the reward
    model): copied in memory, so the weights are read from disk once per stage."""
    return copy.deepcopy(unwrap(model)).to(device).eval().requires_grad_(False)
