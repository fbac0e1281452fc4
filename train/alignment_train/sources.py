"""Where a stage's examples come from: the synthetic task (default) or your records (``data``).

Each stage asks for its kind of examples (:func:`examples`) and gets a :class:`Source`: the
token ids to train on, held-out ones, and the prompts to sample from when measuring.

- With the synthetic task, the stage reports the task's true reward, KL and length before and
  after training (``common.evaluate``).
- With ``data``, records are read by :mod:`alignment_train.data` from the ``train`` split;
  the held-out examples are the ``test`` split when there is one, else the last 5 % of
  ``train`` (at least 1, at most 256). There is no true reward: the stage reports its own
  loss on the held-out examples (``eval_loss`` and its metrics), and the exact KL to the
  reference and the length of sampled responses on held-out prompts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import ConfigError
from .task import Task, Tokenizer

KINDS = ("sft", "preference", "unpaired", "prompt")


@dataclass
class Source:
    """A stage's examples: ``rows[:n_train]`` train, ``rows[n_train:]`` are held out."""

    rows: list[Any]
    n_train: int
    eval_prompts: list[list[int]] = field(default_factory=list)
    """Prompt ids to sample from when measuring (data only)."""
    task: Task | None = None
    """The synthetic task (true reward known), or None for your data."""

    @property
    def heldout(self) -> list[int]:
        return list(range(self.n_train, len(self.rows)))


def split_records(source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train records, held-out records) of ``data``: the test split, or the tail of train."""
    from .data import load_records, splits

    records = load_records(source, "train")
    if "test" in splits(source):
        return records, load_records(source, "test")
    n = max(1, min(256, len(records) // 20))
    if len(records) < 2:
        raise ConfigError(f"data {source}: {len(records)} record; need at least 2 (one is held "
                          f"out for evaluation) or a test split")
    return records[:-n], records[-n:]


def examples(cfg: Any, kind: str, tok: Tokenizer, synthetic: Callable[[], list[Any]],
             prompt_budget: int | None = None, n_train: int | None = None) -> Source:
    """The stage's examples: ``synthetic()`` (token ids from the task) when ``cfg.data`` is
    empty, else the records of ``cfg.data`` in the format of ``kind`` (one of sft,
    preference, unpaired, prompt), truncated to ``cfg.max_length`` (prompts for sampling to
    ``prompt_budget``). Synthetic rows after the first ``n_train`` are held out."""
    if not cfg.data:
        rows = synthetic()
        return Source(rows, len(rows) if n_train is None else n_train, task=Task())
    from . import data as d

    convert = {"sft": d.sft_examples, "preference": d.preference_examples,
               "unpaired": d.unpaired_examples, "prompt": d.prompt_examples}[kind]
    budget = cfg.max_length if kind != "prompt" else (prompt_budget or cfg.max_length)
    train_recs, held_recs = split_records(cfg.data)
    train, held = convert(train_recs, tok, budget), convert(held_recs, tok, budget)
    room = max(1, cfg.max_length - cfg.max_new_tokens)  # prompts to sample from, cut left
    prompts = [_cut_left(r if kind == "prompt" else r[0], room, tok.bos_id) for r in held]
    return Source([*train, *held], len(train), prompts[: cfg.eval_prompts])


def _cut_left(p: list[int], n: int, bos: int | None) -> list[int]:
    """The last ``n`` tokens of ``p``, keeping a leading BOS."""
    if len(p) <= n:
        return p
    head = p[:1] if bos is not None and p[:1] == [bos] and n > 1 else []
    return head + p[len(p) - (n - len(head)):]


@torch.no_grad()
def sample_stats(policy: nn.Module, ref: nn.Module, tok: Tokenizer, prompts: Sequence[list[int]],
                 max_new_tokens: int, seed: int, autocast: Any = None, sync: bool = False,
                 batch: int = 32) -> dict[str, float]:
    """Exact KL(pi || pi_ref) per response (summed over its tokens) and length in tokens of
    one response sampled per prompt at temperature 1 (the task-free part of ``evaluate``)."""
    from .common import collate, generate, token_kl

    was = policy.training
    policy.eval()
    gen = torch.Generator().manual_seed(seed)
    device = next(policy.parameters()).device
    kls, lengths = [], []
    for s in range(0, len(prompts), batch):
        enc = list(prompts[s : s + batch])
        responses = generate(policy, enc, max_new_tokens, tok.eos_id, tok.pad_id, gen,
                             autocast=autocast, sync=sync)
        ids, mask = collate(enc, responses, tok.pad_id)
        ids, mask = ids.to(device), mask.to(device)
        with (autocast or contextlib.nullcontext)():
            lp, lq = policy(ids)[0], ref(ids)[0]  # (b, T, V)
        kl = F.pad(token_kl(lp[:, :-1], lq[:, :-1]), (1, 0))  # position t-1 predicts token t
        kls.append((kl * mask).sum(-1).cpu())
        lengths += [float(len(r)) for r in responses]
    policy.train(was)
    return {"kl": float(torch.cat(kls).mean()) if kls else 0.0,
            "length": sum(lengths) / max(1, len(lengths))}
