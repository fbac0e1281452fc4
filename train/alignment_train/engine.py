"""Training plumbing shared by every stage: config, devices, DDP/FSDP2, checkpoints, logging.

Nothing here is alignment math; the stage files (``sft.py``, ``dpo.py``, …) hold that. Each
stage's ``train()`` has the same shape: load its models once, build its data, define
``loss_fn(example indices) -> (loss, metrics)``, then :meth:`Run.fit` runs the loop
(evaluate before, optimise, log, checkpoint, stop) and :meth:`Run.finish` saves the result.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from . import distributed
from .config import ConfigError, parse_config  # noqa: F401  (re-exported)
from .model import GPT, GPTConfig, HFCausalLM, ScalarModel
from .task import CharTokenizer, HFTokenizer, Tokenizer

F = TypeVar("F", bound=Callable[..., Any])
LossFn = Callable[[list[int]], tuple[torch.Tensor, dict[str, float]]]
"""A stage's algorithm for one batch: example indices -> (mean loss, metrics to log)."""
StepFn = Callable[[int], dict[str, float]]
"""One training step (or PPO iteration) -> metrics to log."""
Optimizers = torch.optim.Optimizer | Sequence[torch.optim.Optimizer]

LR_SCHEDULES = ("constant", "linear", "cosine")


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
    """Global batch (examples per optimizer step, summed over processes and micro-batches)."""
    grad_accum: int = 1
    """Gradient accumulation: micro-batches per optimizer step (each process's share of
    batch_size is split into this many)."""
    lr: float = 1e-3
    """Peak learning rate (AdamW), reached after ``warmup`` steps."""
    lr_schedule: str = "constant"
    """After warm-up: constant, linear (to 0 at the last step) or cosine (to 0)."""
    warmup: int = 10
    """Linear warm-up steps."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this (0 = off)."""
    model: str = "tiny"
    """"tiny" (our GPT) or a local Hugging Face model folder (needs transformers)."""
    data: str = ""
    """Your data instead of the synthetic task: a .jsonl file, or a folder with train.jsonl
    (and test.jsonl for evaluation) or saved by datasets, in TRL's formats."""
    max_length: int = 512
    """With data: longest prompt + response in tokens (prompt cut from the left first)."""
    max_new_tokens: int = 128
    """With data: longest sampled response in tokens (PPO rollouts, evaluation)."""
    device: str = "cpu"
    """"cpu" or "cuda" (under torchrun, each process uses cuda:LOCAL_RANK)."""
    bf16: bool = True
    """On CUDA: bf16 compute (autocast; FSDP's param dtype) over fp32 master weights."""
    fsdp: bool = False
    """Under torchrun, shard the trained models with FSDP2 instead of replicating (DDP)."""
    grad_checkpointing: bool = False
    """Recompute each block's activations in the backward pass (less memory, ~30% slower)."""
    tensorboard: str = "auto"
    """TensorBoard events in out_dir/tensorboard: auto (if the package is installed), on, off."""
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
                  ("max_new_tokens", self.max_new_tokens >= 1, ">= 1"),
                  ("batch_size", self.batch_size > 0, "> 0"), ("warmup", self.warmup >= 0, ">= 0"),
                  ("grad_accum", self.grad_accum >= 1, ">= 1"),
                  ("max_length", self.max_length >= 2, ">= 2"),
                  ("log_every", self.log_every > 0, "> 0"), ("ckpt_every", self.ckpt_every > 0, "> 0"),
                  ("eval_prompts", self.eval_prompts > 0, "> 0"),
                  ("device", self.device in ("cpu", "cuda"), 'one of "cpu", "cuda"'),
                  ("lr_schedule", self.lr_schedule in LR_SCHEDULES, "one of " + ", ".join(LR_SCHEDULES)),
                  ("tensorboard", self.tensorboard in ("auto", "on", "off"), "one of auto, on, off")]
        for name, ok, rule in checks:
            if not ok:
                raise ConfigError(f"{name} must be {rule}, got {getattr(self, name)!r}")
        if self.batch_size % self.grad_accum:
            raise ConfigError(f"batch_size={self.batch_size} must be divisible by "
                              f"grad_accum={self.grad_accum}")
        tiny_window = GPTConfig().block_size
        if (self.data and os.path.exists(self.data) and self.model == "tiny"
                and self.max_length > tiny_window):  # a missing path is reported first
            raise ConfigError(f"max_length={self.max_length} is longer than the tiny GPT reads "
                              f"({tiny_window} tokens): set max_length <= {tiny_window} (and "
                              f"max_new_tokens below it), or train a Hugging Face model "
                              f"with --model PATH")
        if self.data and self.max_new_tokens >= self.max_length:
            raise ConfigError(f"max_new_tokens={self.max_new_tokens} must be below "
                              f"max_length={self.max_length} (room for the prompt)")
        if n_examples is not None and self.batch_size > n_examples:
            raise ConfigError(f"batch_size={self.batch_size} is larger than the data "
                              f"({n_examples} examples); lower batch_size or add data")


# ---- saving and loading models between stages ---------------------------------------------
EXPORT_INFO = "alignment_train.json"  # beside a Hugging Face export: what the folder holds
SCALAR_HEAD = "scalar_head.safetensors"  # a reward model's / critic's head beside its trunk


def _strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def save_model(path: Path, model: nn.Module, state: dict[str, Any] | None = None,
               tok: Tokenizer | None = None) -> None:
    """Save an LM or a ScalarModel so that :func:`load_model` can rebuild it.

    Our GPT: one file ``path`` (config and weights). A Hugging Face model: the folder
    ``path.parent`` becomes a ``save_pretrained`` export in safetensors (model, tokenizer),
    loadable by ``AutoModelForCausalLM.from_pretrained``; a scalar model's head (and score
    statistics) go beside it in ``scalar_head.safetensors``. ``state`` is a full state dict
    when the model itself is sharded (FSDP)."""
    model = unwrap(model)
    scalar = isinstance(model, ScalarModel)
    trunk = model.trunk if isinstance(model, ScalarModel) else model
    state = {k: v.detach().cpu() for k, v in (state or model.state_dict()).items()}
    if isinstance(trunk, HFCausalLM):
        from safetensors.torch import save_file

        folder = path.parent
        hf_state = _strip_prefix(state, "trunk.hf." if scalar else "hf.")
        trunk.hf.save_pretrained(folder, state_dict=hf_state, safe_serialization=True)
        if isinstance(tok, HFTokenizer):
            tok.tok.save_pretrained(folder)  # type: ignore[attr-defined]
        if scalar:
            head = {k: v.contiguous() for k, v in state.items() if not k.startswith("trunk.")}
            save_file(head, str(folder / SCALAR_HEAD))
        (folder / EXPORT_INFO).write_text(json.dumps({"arch": "hf", "scalar": scalar}) + "\n")
        path.unlink(missing_ok=True)  # an older tiny-GPT output in the same folder
        return
    assert isinstance(trunk, GPT)
    (path.parent / EXPORT_INFO).unlink(missing_ok=True)  # an older Hugging Face export
    blob = {"arch": "gpt", "gpt": dataclasses.asdict(trunk.config), "scalar": scalar, "state": state}
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)


def load_model(path: str | Path) -> tuple[nn.Module, Tokenizer]:
    """Rebuild a model saved by :func:`save_model` (and its tokenizer): a stage's output
    folder (or its ``model.pt``)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if (folder / EXPORT_INFO).exists():  # a Hugging Face export
        from .common import load_hf

        info = json.loads((folder / EXPORT_INFO).read_text())
        trunk, tok = load_hf(str(folder))
        if not info.get("scalar"):
            return trunk, tok
        from safetensors.torch import load_file

        model = ScalarModel(trunk)
        head = load_file(str(folder / SCALAR_HEAD))
        missing = model.load_state_dict(head, strict=False)
        if missing.unexpected_keys or any(not k.startswith("trunk.") for k in missing.missing_keys):
            raise ConfigError(f"{folder / SCALAR_HEAD} does not match a scalar head")
        return model, tok
    if path.is_dir():
        path = path / "model.pt"
    if not path.exists():
        raise ConfigError(f"model file {path} does not exist (train the stage that makes it first)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    m: nn.Module = GPT(GPTConfig(**blob["gpt"]))
    model = ScalarModel(m) if blob["scalar"] else m
    model.load_state_dict(blob["state"])
    return model, CharTokenizer()


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module inside a DDP wrapper (an FSDP2 model is its own module)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def enable_grad_checkpointing(model: nn.Module) -> None:
    """Recompute activations per block in backward: transformers' own activation (gradient)
    checkpointing for a Hugging Face model, ``torch.utils.checkpoint`` around each block of
    our GPT (only while gradients are on: sampling and scoring run plainly)."""
    for m in model.modules():
        if isinstance(m, HFCausalLM):
            if hasattr(m.hf, "activation_checkpointing_enable"):  # transformers >= 5.x
                m.hf.activation_checkpointing_enable({"use_reentrant": False})
            else:
                m.hf.gradient_checkpointing_enable(
                    gradient_checkpointing_kwargs={"use_reentrant": False})
            return
    from torch.utils.checkpoint import checkpoint

    for block in distributed.decoder_blocks(model):
        inner = block.forward

        def forward(*args: Any, _inner: Callable[..., Any] = inner, **kw: Any) -> Any:
            if not torch.is_grad_enabled():  # sampling and scoring: nothing to save
                return _inner(*args, **kw)
            return checkpoint(_inner, *args, use_reentrant=False, **kw)

        block.forward = forward  # type: ignore[method-assign]


# ---- one training run --------------------------------------------------------------------
class Run:
    """Devices, distributed set-up, the shared RNG, metrics, checkpoints and NaN stops."""

    start: int = 0
    total_steps: int = 0
    """Optimizer steps of the whole run, for the schedule (stages with several updates per
    iteration, like PPO, set it; default ``cfg.steps``)."""

    def __init__(self, cfg: BaseConfig, stage: str, resume: bool = False) -> None:
        self.cfg, self.stage, self.resume = cfg, stage, resume
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cfg.device == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError("device=cuda but torch sees no CUDA device")
            torch.cuda.set_device(local)  # before any CUDA work: each process owns one GPU
            self.device = torch.device("cuda", local)
        else:
            self.device = torch.device("cpu")
        if self.world > 1 and not dist.is_initialized():
            if self.device.type == "cuda":  # binds NCCL to this GPU (no guessing at barriers)
                dist.init_process_group("nccl", device_id=self.device)
            else:
                dist.init_process_group("gloo")
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        share = cfg.batch_size // self.world if cfg.batch_size % self.world == 0 else 0
        if not share:
            raise ConfigError(f"batch_size={cfg.batch_size} must be divisible by the "
                              f"{self.world} processes")
        if share % cfg.grad_accum:
            raise ConfigError(f"each process's batch ({share}) must be divisible by "
                              f"grad_accum={cfg.grad_accum}")
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed * 1000 + self.rank)
        self.gen = torch.Generator().manual_seed(cfg.seed)  # data order (same on all processes)
        self.sample_gen = torch.Generator().manual_seed(cfg.seed * 1000 + self.rank + 1)  # sampling
        self.out = Path(cfg.out_dir or f"runs/{stage}")
        self.main = self.rank == 0
        self.metrics_file = self.out / "metrics.jsonl"
        self.ckpt_file = self.out / "ckpt.pt"
        self.ckpt_dir = self.out / "ckpt"  # FSDP2: sharded (torch.distributed.checkpoint)
        self.last_good: int | None = None
        self._trained: list[nn.Module] = []
        self._t0 = self._t_log = time.time()
        self._step_log = 0
        self._tb: Any = None
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if not resume and self.metrics_file.exists():
                self.metrics_file.unlink()
        if resume:
            self._check_resumable()

    # -- devices and wrapping
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """bf16 autocast on CUDA when ``bf16`` is on (the weights stay fp32)."""
        if self.device.type == "cuda" and self.cfg.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def wrap(self, model: nn.Module) -> nn.Module:
        """Prepare a model to train: move it to the device, turn on gradient checkpointing
        if asked, and under torchrun wrap it in DDP or (``fsdp=true``) shard it with FSDP2.
        Make its optimizer afterwards, from the returned model's parameters."""
        model = model.to(self.device)
        if self.cfg.grad_checkpointing:
            enable_grad_checkpointing(model)
        if self.world > 1 and self.cfg.fsdp:
            model = distributed.fully_shard_model(model, self.device,
                                                  self.cfg.bf16 and self.device.type == "cuda")
        elif self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self._trained.append(model)
        return model

    @property
    def sharded(self) -> bool:
        return self.cfg.fsdp and self.world > 1

    def inner(self, model: nn.Module) -> nn.Module:
        """The model to call outside training (sampling, evaluation): the bare module under
        DDP; the FSDP2 model itself (it all-gathers its shards), on every process."""
        return unwrap(model)

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
        # fused: one kernel per step on CPU and CUDA (transformers' Trainer default, torch >= 2.8)
        opt = torch.optim.AdamW(params, lr=self.cfg.lr if lr is None else lr,
                                weight_decay=self.cfg.weight_decay, fused=True)
        for g in opt.param_groups:
            g["peak_lr"] = g["lr"]
        return opt

    def lr_factor(self, step: int) -> float:
        """Multiplier of the peak learning rate at optimizer step ``step`` (0-based): linear
        warm-up over ``warmup`` steps, then constant, linear decay or cosine decay, reaching
        0 one step after the last."""
        w = self.cfg.warmup
        if step < w:
            return (step + 1) / w
        if self.cfg.lr_schedule == "constant":
            return 1.0
        total = self.total_steps or self.cfg.steps
        progress = min(1.0, (step - w) / max(1, total - w))  # 0 at the first step after warm-up
        if self.cfg.lr_schedule == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    @contextlib.contextmanager
    def _no_sync(self, skip: bool) -> Iterator[None]:
        """While accumulating (``skip``), do not reduce gradients across processes."""
        if not skip or self.world == 1:
            yield
            return
        with contextlib.ExitStack() as stack:
            for m in self._trained:
                if isinstance(m, nn.parallel.DistributedDataParallel):
                    stack.enter_context(m.no_sync())
                else:
                    for f in distributed.fsdp_modules(m)[:1]:  # the root; applies to all blocks
                        f.set_requires_gradient_sync(False)  # type: ignore[operator]
            try:
                yield
            finally:
                for m in self._trained:
                    for f in distributed.fsdp_modules(m)[:1]:
                        f.set_requires_gradient_sync(True)  # type: ignore[operator]

    def step(self, loss_fn: LossFn, idx: Sequence[int], opts: Optimizers,
             step: int) -> dict[str, float]:
        """One optimizer step on this process's examples ``idx``.

        ``idx`` is split into ``grad_accum`` micro-batches; ``loss_fn(micro)`` returns the
        mean loss over the micro-batch and metrics to log. Each loss is weighted by its share
        of ``idx`` and back-propagated, gradients are reduced across processes only after the
        last one (DDP ``no_sync`` / FSDP2 ``set_requires_gradient_sync``), so ``grad_accum=4,
        batch 2`` equals ``batch 8``. The loss must be finite on every process; then the
        gradient norm is clipped (per optimizer) and every optimizer in ``opts`` steps. Returns
        the metrics averaged over micro-batches, with ``loss`` and ``lr`` (the first
        optimizer's learning rate at this step)."""
        opt_list = [opts] if isinstance(opts, torch.optim.Optimizer) else list(opts)
        idx = list(idx)
        n_micro = self.cfg.grad_accum
        size = len(idx) // n_micro
        if size * n_micro != len(idx):
            raise ConfigError(f"{len(idx)} examples per process do not split into "
                              f"grad_accum={n_micro} equal micro-batches")
        for opt in opt_list:
            opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        sums: dict[str, float] = {}
        for k in range(n_micro):
            micro = idx[k * size : (k + 1) * size]
            with self._no_sync(skip=k < n_micro - 1):
                loss, metrics = loss_fn(micro)
                (loss / n_micro).backward()
            total += loss.detach().float() / n_micro
            for key, v in metrics.items():
                sums[key] = sums.get(key, 0.0) + float(v) / n_micro
        value = self.mean(total)
        if not math.isfinite(value):
            where = (f"the last good checkpoint is {self._meta_file()} (step {self.last_good})"
                     if self.last_good is not None else "no checkpoint was saved yet")
            raise TrainingStopped(f"{self.stage}: loss became {value} at step {step + 1}; "
                                  f"stopped, {where}. Try a lower lr.")
        factor = self.lr_factor(step)
        for opt in opt_list:
            for g in opt.param_groups:
                g["lr"] = g["peak_lr"] * factor
        for opt in opt_list:  # each optimizer clips its own parameters (PPO: actor, critic)
            if self.cfg.grad_clip > 0:  # DTensor shards too: the norm is global under FSDP2
                params = [p for g in opt.param_groups for p in g["params"]]
                torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
            opt.step()
        return {"loss": float(total), **sums, "lr": opt_list[0].param_groups[0]["lr"]}

    def batches(self, n_examples: int, loss_fn: LossFn, opts: Optimizers) -> StepFn:
        """The step function of a supervised stage: each step draws a global batch from
        ``n_examples`` (same on every process), keeps this process's shard and calls
        :meth:`step` on it."""
        def one_step(step: int) -> dict[str, float]:
            self.global_batch = self.batch_indices(n_examples).tolist()
            idx = self.shard(torch.tensor(self.global_batch)).tolist()
            return self.step(loss_fn, idx, opts, step)

        return one_step

    global_batch: list[int] = []  # noqa: RUF012  (set per step; read by mismatched())
    """The current step's examples on every process together (set by :meth:`batches`)."""

    def mismatched(self, idx: Sequence[int]) -> list[int]:
        """For each of this process's examples, the next example of the *global* batch
        (cyclically): pairs (x_i, y_next) that do not depend on how many processes or
        micro-batches share the batch (KTO's reference point)."""
        batch = self.global_batch or list(idx)
        at = {v: i for i, v in enumerate(batch)}
        return [batch[(at[v] + 1) % len(batch)] for v in idx]

    @torch.no_grad()
    def heldout_loss(self, loss_fn: LossFn, idx: Sequence[int]) -> dict[str, float]:
        """``loss_fn`` averaged over held-out examples ``idx`` (no gradient, eval mode), in
        chunks of this process's batch; every process computes all of it. Keys: ``eval_loss``
        and ``eval_<metric>``."""
        idx = list(idx)
        if not idx:
            return {}
        chunk = max(1, self.cfg.batch_size // self.world)
        modes = [m.training for m in self._trained]
        for m in self._trained:
            m.eval()
        sums: dict[str, float] = {}
        saved = self.global_batch
        for s in range(0, len(idx), chunk):
            part = idx[s : s + chunk]
            self.global_batch = part
            loss, metrics = loss_fn(part)
            for k, v in {"loss": float(loss), **metrics}.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(part) / len(idx)
        self.global_batch = saved
        for m, was in zip(self._trained, modes, strict=True):
            m.train(was)
        return {f"eval_{k}": v for k, v in sums.items()}

    def measure(self, src: Any, model: nn.Module, ref: nn.Module, tok: Tokenizer,
                loss_fn: LossFn | None, task_eval: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The before/after numbers of a stage. On the synthetic task: ``task_eval()`` (true
        reward, KL, length). With ``data``: ``loss_fn`` on the held-out examples, and the
        exact KL to ``ref`` and the length of responses sampled from ``model``."""
        if src.task is not None:
            return task_eval()
        from .sources import sample_stats

        out = self.heldout_loss(loss_fn, src.heldout) if loss_fn is not None else {}
        out.update(sample_stats(self.inner(model), ref, tok, src.eval_prompts,
                                self.cfg.max_new_tokens, self.cfg.seed + 1, self.autocast,
                                self.sharded))
        return out

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
        return float(distributed.all_reduce_sum(x.float()) / self.world)

    # -- metrics and progress
    def log(self, step: int, metrics: dict[str, float], force: bool = False) -> None:
        if not (force or (step + 1) % self.cfg.log_every == 0 or step + 1 == self.cfg.steps):
            return
        now = time.time()
        ms = 1000 * (now - self._t_log) / max(1, step + 1 - self._step_log)
        self._t_log, self._step_log = now, step + 1
        names = list(metrics)
        means = distributed.all_reduce_sum(torch.tensor([float(metrics[k]) for k in names],
                                                        dtype=torch.float64)) / self.world
        metrics = {k: float(v) for k, v in zip(names, means, strict=True)}
        metrics["ms_per_step"] = ms
        if self.main:
            with open(self.metrics_file, "a") as fh:
                fh.write(json.dumps({"step": step + 1, **metrics}) + "\n")
            self.tensorboard(step + 1, metrics)
            self.progress(step + 1, metrics)

    def tensorboard(self, step: int, metrics: dict[str, float]) -> None:
        """Write scalars to out_dir/tensorboard (rank 0) with tensorboard's SummaryWriter."""
        if self.cfg.tensorboard == "off" or self._tb is False:
            return
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self._tb = False
                if self.cfg.tensorboard == "on":
                    self.say(f"[{self.stage}] note: tensorboard=on but the tensorboard package is "
                             f"not installed (pip install 'alignment-train[tensorboard]'); "
                             f"logging to metrics.jsonl only")
                return
            self._tb = SummaryWriter(log_dir=str(self.out / "tensorboard"), purge_step=step)
        for k, v in metrics.items():
            self._tb.add_scalar(f"{self.stage}/{k}", v, step)
        self._tb.flush()

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
    def _rng_state(self) -> dict[str, Any]:
        """This process's random state: torch's CPU (and CUDA) generators, Python's
        ``random`` and the sampling generator (the data-order one is shared)."""
        return {"torch": torch.get_rng_state(), "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
                "sample_gen": self.sample_gen.get_state()}

    def _set_rng_state(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        random.setstate(state["python"])
        if state["cuda"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)
        self.sample_gen.set_state(state["sample_gen"])

    def _meta_file(self) -> Path:
        return (self.ckpt_dir / "meta.pt") if self.sharded else self.ckpt_file

    def save_ckpt(self, done: int, models: dict[str, nn.Module],
                  opts: list[torch.optim.Optimizer], extra: dict[str, Any]) -> None:
        """A resumable checkpoint: models, optimizers, step, config, the shared data-order
        generator and every process's random state. Without FSDP: one file ``ckpt.pt``
        (rank 0). With FSDP2: ``ckpt/``, each process writing its shards through
        ``torch.distributed.checkpoint``, plus ``ckpt/meta.pt``."""
        rngs = [self._rng_state()]
        if self.world > 1:
            rngs = [None] * self.world  # type: ignore[list-item]
            dist.all_gather_object(rngs, self._rng_state())
        meta = {"step": done, "config": dataclasses.asdict(self.cfg), "world": self.world,
                "gen": self.gen.get_state(), "rng": rngs, "extra": extra}
        if self.sharded:
            import torch.distributed.checkpoint as dcp

            tmp = self.out / "ckpt.tmp"
            if self.main and tmp.exists():
                shutil.rmtree(tmp)
            dist.barrier()
            dcp.save(self._dcp_state(models, opts), checkpoint_id=str(tmp))
            if self.main:
                torch.save(meta, tmp / "meta.pt")
                if self.ckpt_dir.exists():
                    shutil.rmtree(self.ckpt_dir)
                os.replace(tmp, self.ckpt_dir)
        elif self.main:
            blob = {**meta, "models": {k: unwrap(m).state_dict() for k, m in models.items()},
                    "optims": [o.state_dict() for o in opts]}
            tmp = self.ckpt_file.with_suffix(".tmp")
            torch.save(blob, tmp)
            os.replace(tmp, self.ckpt_file)
        self.last_good = done
        if self.world > 1:
            dist.barrier()

    @staticmethod
    def _dcp_state(models: dict[str, nn.Module], opts: list[torch.optim.Optimizer]) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_state_dict

        msd, osd = get_state_dict(nn.ModuleDict(models), opts)
        return {"models": msd, "optims": osd}

    def _check_resumable(self) -> None:
        """Fail before any training if ``--resume`` has nothing to resume from."""
        if not self._meta_file().exists():
            raise ConfigError(f"--resume: no checkpoint at {self._meta_file()}")

    def load_ckpt(self, models: dict[str, nn.Module],
                  opts: list[torch.optim.Optimizer]) -> dict[str, Any]:
        """Restore a checkpoint when resuming; returns its ``extra`` (or {} for a fresh run)."""
        if not self.resume:
            return {}
        self._check_resumable()
        blob = torch.load(self._meta_file(), map_location="cpu", weights_only=False)
        now = dataclasses.asdict(self.cfg)
        diff = [k for k in now if k != "stop_after" and blob["config"].get(k) != now[k]]
        if diff:
            raise ConfigError(f"--resume: settings differ from the checkpoint's: {', '.join(diff)}")
        if blob["world"] != self.world:
            raise ConfigError(f"--resume: the checkpoint was written by {blob['world']} "
                              f"processes, this run has {self.world}")
        if self.sharded:
            import torch.distributed.checkpoint as dcp
            from torch.distributed.checkpoint.state_dict import set_state_dict

            state = self._dcp_state(models, opts)
            dcp.load(state, checkpoint_id=str(self.ckpt_dir))
            set_state_dict(nn.ModuleDict(models), opts, model_state_dict=state["models"],
                           optim_state_dict=state["optims"])
        else:
            for k, m in models.items():
                unwrap(m).load_state_dict(blob["models"][k])
            for o, st in zip(opts, blob["optims"], strict=True):
                o.load_state_dict(st)
        self.gen.set_state(blob["gen"])
        self._set_rng_state(blob["rng"][self.rank])
        self.start = self.last_good = self._step_log = int(blob["step"])
        if self.main and self.metrics_file.exists():  # drop lines logged after the checkpoint
            lines = self.metrics_file.read_text().splitlines()
            kept = [ln for ln in lines if json.loads(ln).get("step", 0) <= self.start]
            self.metrics_file.write_text("".join(ln + "\n" for ln in kept))
        self.say(f"[{self.stage}] resumed from {self._meta_file()} at step {self.start}")
        return dict(blob["extra"])

    def after_step(self, step: int, models: dict[str, nn.Module],
                   opts: list[torch.optim.Optimizer], extra: dict[str, Any]) -> None:
        """Checkpoint every ``ckpt_every`` steps; honour ``stop_after``."""
        done = step + 1
        if done % self.cfg.ckpt_every == 0:
            self.save_ckpt(done, models, opts, extra)
        if self.cfg.stop_after and done == self.cfg.stop_after and done < self.cfg.steps:
            raise TrainingStopped(f"{self.stage}: stopped after step {done} (stop_after)")

    def finish(self, model: nn.Module, summary: dict[str, Any], tok: Tokenizer | None = None,
               name: str = "model.pt") -> None:
        """Save the final model (rank 0; under FSDP2 its full state dict is gathered first)
        and summary.json, and print before/after. A Hugging Face model is exported with
        ``save_pretrained`` (safetensors, with ``tok``) into out_dir."""
        state = None
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                get_model_state_dict,
            )

            state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True,
                                                                         cpu_offload=True))
        if self.main:
            save_model(self.out / name, model, state, tok)
            summary = {"stage": self.stage, "seconds": round(time.time() - self._t0, 1), **summary}
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            with open(self.metrics_file, "a") as fh:
                fh.write(json.dumps({"step": self.cfg.steps, "summary": summary}) + "\n")
            if self._tb:
                self._tb.close()
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
    """The model a stage starts from, read from disk once: the output of an earlier stage
    (``init_from``, a folder written by :meth:`Run.finish`), or, when ``init_from`` is empty,
    the base model ``model`` ("tiny": a fresh GPT; else a local Hugging Face folder)."""
    from .common import build_model

    if not init_from:
        return build_model(model)
    folder = Path(init_from)
    if not (folder / EXPORT_INFO).exists() and not (folder / "model.pt").exists() \
            and not folder.is_file():
        hint = "" if model == "tiny" else " or init_from= to start from --model itself"
        raise ConfigError(f"init_from {init_from}: no trained model there (run the stage that "
                          f"makes it first{hint})")
    loaded, tok = load_model(init_from)
    trunk = loaded.trunk if isinstance(loaded, ScalarModel) else loaded
    if model != "tiny" and isinstance(trunk, GPT):
        raise ConfigError(f"init_from {init_from} holds the tiny GPT, but model={model}: train "
                          f"that stage with the same --model")
    return loaded, tok


def frozen_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """A copy of ``model`` on ``device`` in eval mode with gradients off (pi_ref, the reward
    model): copied in memory, so the weights are read from disk once per stage."""
    return copy.deepcopy(unwrap(model)).to(device).eval().requires_grad_(False)
