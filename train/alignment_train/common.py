"""Shared pieces: encoding and batching, per-token log-probs, sampling, evaluation, loading,
and the two small collectives the algorithms need across processes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .config import ConfigError
from .model import GPT, GPTConfig, HFCausalLM
from .task import CharTokenizer, HFTokenizer, Task, Tokenizer

Autocast = Callable[[], contextlib.AbstractContextManager[Any]]
"""A function giving a fresh autocast context (``run.autocast``), or ``contextlib.nullcontext``."""


# ---- encoding and batching -------------------------------------------------------------
def encode_prompt(tok: Tokenizer, prompt: str) -> list[int]:
    """Token ids of ``<bos> prompt :`` (no BOS if the tokenizer has none)."""
    head = [tok.bos_id] if tok.bos_id is not None else []
    return head + tok.encode(prompt + ":")


def encode_response(tok: Tokenizer, response: str) -> list[int]:
    return [*tok.encode(response), tok.eos_id]


def collate(
    prompts: Sequence[list[int]], responses: Sequence[list[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``ids (B, T)`` and ``mask (B, T)``: 1.0 where the token is a response token."""
    T = max(len(p) + len(r) for p, r in zip(prompts, responses, strict=True))
    ids = torch.full((len(prompts), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(prompts), T)
    for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        mask[i, len(p) : len(p) + len(r)] = 1.0
    return ids, mask


def pair_batch(
    P: Sequence[list[int]], C: Sequence[list[int]], R: Sequence[list[int]], idx: Sequence[int],
    pad_id: int, device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chosen and rejected responses of the pairs ``idx`` in one batch, for one forward pass:
    rows ``[0, b)`` are (prompt, chosen), rows ``[b, 2b)`` (prompt, rejected)."""
    prompts = [P[i] for i in idx]
    ids, mask = collate(prompts * 2, [C[i] for i in idx] + [R[i] for i in idx], pad_id)
    return ids.to(device), mask.to(device)


# ---- log-probabilities --------------------------------------------------------------------
def _rows_per_chunk(vocab: int) -> int:
    return max(1, 2**22 // max(1, vocab))  # about 4M logits (16 MB in fp32) per chunk


def _at_least_fp32(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


class _SelectiveLogSoftmax(torch.autograd.Function):
    """``log_softmax(logits)[label]`` per row without keeping an ``(N, V)`` log-softmax: each
    chunk of rows gets a fused log-softmax (at least float32) that is gathered and dropped;
    backward recomputes the softmax chunk by chunk. Saves only the logits (in their own
    dtype) and the labels."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n, dt = _rows_per_chunk(logits.shape[-1]), _at_least_fp32(logits.dtype)
        out = torch.empty(logits.shape[0], dtype=dt, device=logits.device)
        for s in range(0, logits.shape[0], n):
            lsm = torch.log_softmax(logits[s : s + n].to(dt), dim=-1)  # (n, V), freed next
            out[s : s + n] = lsm.gather(-1, labels[s : s + n, None]).squeeze(-1)
        ctx.save_for_backward(logits, labels)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        logits, labels = ctx.saved_tensors
        n, dt = _rows_per_chunk(logits.shape[-1]), _at_least_fp32(logits.dtype)
        out = torch.empty_like(logits)
        for s in range(0, logits.shape[0], n):
            g = grad[s : s + n, None].to(dt)  # (n, 1)
            chunk = torch.softmax(logits[s : s + n].to(dt), dim=-1).mul_(-g)  # -p g
            chunk.scatter_add_(-1, labels[s : s + n, None], g)  # + g at the label
            out[s : s + n] = chunk
        return out, None


_PLAIN_MAX = 2**22
"""Up to this many logits (16 MB in float32) a plain log-softmax + gather is used: one fused
kernel each way, and the memory it keeps is small anyway."""


def selective_log_softmax(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)`` at ``labels``: logits ``(..., V)``, labels ``(...)`` -> ``(...)``
    in float32 (float64 for float64 logits).

    Equal to ``log_softmax(logits.float(), -1).gather(-1, labels[..., None])``, but above
    ``_PLAIN_MAX`` logits it never keeps the full log-softmax: peak extra memory is one chunk
    of rows of about 4M logits, and autograd keeps only the logits themselves (bf16 under
    autocast). TRL's ``selective_log_softmax`` has the same aim.
    """
    if logits.numel() <= _PLAIN_MAX:
        lsm = torch.log_softmax(logits.to(_at_least_fp32(logits.dtype)), dim=-1)
        return lsm.gather(-1, labels[..., None]).squeeze(-1)
    shape = labels.shape
    flat = _SelectiveLogSoftmax.apply(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    return flat.view(shape)  # type: ignore[no-any-return]


def token_logps(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``log pi(ids[:, t] | ids[:, :t])`` aligned with ``ids``: ``(B, T)``, column 0 is 0.

    ``logits`` are those of all ``T`` positions, or of the last ``k`` (``model(ids, keep=k)``):
    then the first ``T - k + 1`` columns are 0. Computed in float32 even under bf16 autocast
    (see :func:`selective_log_softmax`).
    """
    start = ids.shape[1] - logits.shape[1]  # position of the first logit
    picked = selective_log_softmax(logits[:, :-1], ids[:, start + 1 :])  # (B, k-1)
    return F.pad(picked, (start + 1, 0))  # (B, T)


def logits_needed(mask: torch.Tensor) -> int:
    """How many last positions' logits score every response token of ``mask (B, T)``: from
    the position before the earliest response token on (0 = all, for an empty mask)."""
    cols = torch.nonzero(mask.detach().any(0)).flatten()
    return int(mask.shape[1] - int(cols[0]) + 1) if len(cols) else 0


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` where ``mask`` is 1: over everything (a scalar), or along ``dim``."""
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def sequence_logps(tok_lp: torch.Tensor, mask: torch.Tensor, average: bool = False) -> torch.Tensor:
    """Sum (or mean, ``average=True``) of per-token log-probs over the response: ``(B,)``."""
    return masked_mean(tok_lp, mask, -1) if average else (tok_lp * mask).sum(-1)


def response_logps(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token log-probs of the response tokens ``(B, T)``, zero elsewhere; the output layer
    runs only from the position before the earliest response token on."""
    logits, _ = model(ids, keep=logits_needed(mask))  # (B, k, V)
    return token_logps(logits, ids) * mask  # (B, T)


# ---- collectives (identity in a single process) -------------------------------------------
def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def all_gather_cat(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's ``x`` along dim 0, in rank order (shapes may differ in dim 0)."""
    if _world() == 1:
        return x
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(_world())]
    dist.all_gather(sizes, n)
    top = int(max(int(s) for s in sizes))
    padded = torch.zeros((top, *x.shape[1:]), dtype=x.dtype, device=x.device)
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(_world())]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[: int(s)] for p, s in zip(parts, sizes, strict=True)])


def global_masked_moments(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (biased) variance of ``x`` where ``mask`` is 1, over all processes' elements:
    sums and counts are all-reduced, then the squared deviations from the global mean."""
    stats = torch.stack([(x * mask).sum(), mask.sum()]).double()
    if _world() > 1:
        dist.all_reduce(stats)
    mean = (stats[0] / stats[1].clamp(min=1)).to(x.dtype)
    sq = ((x - mean) ** 2 * mask).sum().double()
    if _world() > 1:
        dist.all_reduce(sq)
    return mean, (sq / stats[1].clamp(min=1)).to(x.dtype)


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """``(x - mean) / std`` with mean and variance over the masked elements of every process
    (as OpenRLHF does); zero where ``mask`` is 0."""
    mean, var = global_masked_moments(x, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return (out if shift_mean else out + mean) * mask


# ---- reference log-probs, once before training ---------------------------------------------
@torch.no_grad()
def precompute_logps(
    model: nn.Module, prompts: Sequence[list[int]], responses: Sequence[list[int]], pad_id: int,
    average: bool, device: torch.device | str,
    autocast: Autocast | None = None, max_tokens: int = 8192,
) -> torch.Tensor:
    """Log-probs ``(N,)`` (on CPU) of every (prompt, response) under a frozen model.

    Runs under ``autocast()`` (pass the one the policy trains under, so that pi = pi_ref gives
    exactly equal log-probs), in chunks of at most ``max_tokens`` padded tokens. Under
    torch.distributed each process scores an equal-sized contiguous share (the last one
    padded by repeating the final example) and the shares are all-gathered.
    """
    N, world = len(prompts), _world()
    rank = dist.get_rank() if world > 1 else 0
    per = -(-N // world)
    mine = [min(i, N - 1) for i in range(rank * per, (rank + 1) * per)]
    size = [len(prompts[i]) + len(responses[i]) for i in mine]
    order = sorted(range(len(mine)), key=size.__getitem__)  # similar lengths: less padding
    longest = max(len(p) + len(r) for p, r in zip(prompts, responses, strict=True))
    rows = max(1, max_tokens // longest)  # the same number of forwards on every process
    out = torch.zeros(len(mine))
    for s in range(0, len(order), rows):
        chunk = order[s : s + rows]  # positions in this process's share
        ids, mask = collate([prompts[mine[k]] for k in chunk], [responses[mine[k]] for k in chunk],
                            pad_id)
        ids, mask = ids.to(device), mask.to(device)
        with (autocast or contextlib.nullcontext)():
            lp = sequence_logps(response_logps(model, ids, mask), mask, average).float().cpu()
        out[chunk] = lp
    if world > 1:
        out = all_gather_cat(out.to(device)).cpu()
    return out[:N]


# ---- sampling ----------------------------------------------------------------------------
@torch.no_grad()
def generate(
    model: nn.Module,
    prompts: Sequence[list[int]],
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    autocast: Autocast | None = None,
    sync: bool = False,
    check_every: int = 8,
) -> list[list[int]]:
    """Sample one response per prompt (ids, EOS included when it was sampled).

    Prompts are left-padded and decoded with the model's key/value cache (``model.decode``),
    one new token per forward, under ``autocast()``. Sampling happens on the device: a device
    generator is seeded from ``generator`` (one draw per call, so a CPU generator's state
    still decides everything), and whether every row has finished is read back only every
    ``check_every`` tokens. ``sync=True`` (sharded models, where each forward is a
    collective) stops only when every process's rows have finished.
    """
    B = len(prompts)
    device = next(model.parameters()).device
    L = max(len(p) for p in prompts)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    att = torch.zeros(B, L, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, L - len(p) :] = torch.tensor(p)
        att[i, L - len(p) :] = 1
    ids, att = ids.to(device), att.to(device)
    pos = (att.cumsum(-1) - 1).clamp(min=0)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    dev_gen = torch.Generator(device=device).manual_seed(seed)
    out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    ones = torch.ones(B, 1, dtype=torch.long, device=device)
    with (autocast or contextlib.nullcontext)():
        logits, cache = model.decode(ids, att, pos)  # type: ignore[operator]
        nxt_pos = pos[:, -1:] + 1
        for t in range(max_new_tokens):
            probs = torch.softmax(logits.float() / temperature, dim=-1)  # (B, V)
            nxt = torch.multinomial(probs, 1, generator=dev_gen).squeeze(1)  # (B,)
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
            out[:, t] = nxt
            done = done | (nxt == eos_id)
            if t + 1 == max_new_tokens or ((t + 1) % check_every == 0 and _all_done(done, sync)):
                break
            att = torch.cat([att, ones], dim=1)
            logits, cache = model.decode(nxt[:, None], att, nxt_pos, cache)  # type: ignore[operator]
            nxt_pos = nxt_pos + 1
    rows = out.cpu().tolist()
    return [r[: r.index(eos_id) + 1] if eos_id in r else r for r in rows]  # pads follow EOS


def _all_done(done: torch.Tensor, sync: bool) -> bool:
    flag = done.all().to(torch.int32)
    if sync and _world() > 1:
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag)


# ---- evaluation --------------------------------------------------------------------------
@torch.no_grad()
def token_kl(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """Exact KL(pi || pi_ref) of each position's next-token distribution, summed over the
    vocabulary, in float32 and chunked over rows: ``(..., V) -> (...)``, never negative."""
    shape = logits.shape[:-1]
    a, b = logits.reshape(-1, logits.shape[-1]), ref_logits.reshape(-1, ref_logits.shape[-1])
    dt = _at_least_fp32(a.dtype)
    out = torch.empty(a.shape[0], dtype=dt, device=a.device)
    n = _rows_per_chunk(a.shape[-1])
    for s in range(0, a.shape[0], n):
        lp = torch.log_softmax(a[s : s + n].to(dt), -1)
        lq = torch.log_softmax(b[s : s + n].to(dt), -1)
        out[s : s + n] = (lp.exp() * (lp - lq)).sum(-1).clamp(min=0)  # clamp: rounding only
    return out.view(shape)


@torch.no_grad()
def evaluate(
    policy: nn.Module, ref: nn.Module, tok: Tokenizer, task: Task, prompts: Sequence[str], seed: int,
    autocast: Autocast | None = None, sync: bool = False,
    batch: int = 64,
) -> dict[str, float]:
    """True reward, length and KL(pi || pi_ref) of sampled responses on held-out prompts.

    KL is exact per token: at each response position, the KL between the two models'
    next-token distributions, summed over the vocabulary; summed over the response (nats per
    response) and averaged over prompts, one sample per prompt at temperature 1. It is never
    negative, and 0 exactly when the two models agree.
    """
    was_training = policy.training
    policy.eval()
    gen = torch.Generator().manual_seed(seed)
    device = next(policy.parameters()).device
    texts, kls = [], []
    for s in range(0, len(prompts), batch):
        enc = [encode_prompt(tok, p) for p in prompts[s : s + batch]]
        responses = generate(policy, enc, task.max_new_tokens, tok.eos_id, tok.pad_id, gen,
                             autocast=autocast, sync=sync)
        texts += [tok.decode(r) for r in responses]
        ids, mask = collate(enc, responses, tok.pad_id)
        ids, mask = ids.to(device), mask.to(device)
        keep = logits_needed(mask)
        with (autocast or contextlib.nullcontext)():
            lp, lq = policy(ids, keep=keep)[0], ref(ids, keep=keep)[0]  # (b, k, V)
        start = ids.shape[1] - lp.shape[1]  # position t-1 predicts token t
        kl = F.pad(token_kl(lp[:, :-1], lq[:, :-1]), (start + 1, 0))  # (b, T)
        kls.append((kl * mask).sum(-1).cpu())  # (b,)
    policy.train(was_training)
    rewards = [task.true_reward(p, t) for p, t in zip(prompts, texts, strict=True)]
    return {
        "true_reward": sum(rewards) / len(rewards),
        "kl": float(torch.cat(kls).mean()),
        "length": sum(len(t) for t in texts) / len(texts),
    }


# ---- models --------------------------------------------------------------------------------
def build_model(model: str, gpt: GPTConfig | None = None) -> tuple[nn.Module, Tokenizer]:
    """``"tiny"`` builds our GPT with the character tokenizer; a path loads a local HF model."""
    if model == "tiny":
        tok = CharTokenizer()
        cfg = gpt or GPTConfig()
        cfg.vocab_size = tok.vocab_size
        return GPT(cfg), tok
    return load_hf(model)


def load_hf(path: str) -> tuple[nn.Module, Tokenizer]:
    """Load a local Hugging Face causal LM and its tokenizer (``transformers`` imported lazily).

    The weights are loaded in float32 whatever the checkpoint's dtype (fp32 master weights;
    bf16 compute comes from autocast).
    """
    if not os.path.isdir(path):
        raise ConfigError(f"--model {path}: no such directory (a local Hugging Face model folder)")
    if not os.path.exists(os.path.join(path, "config.json")):
        raise ConfigError(f"--model {path}: no config.json in that folder")
    try:
        import transformers
    except ImportError as e:
        raise ConfigError("--model needs `transformers`: pip install 'alignment-train[hf]'") from e
    hf = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True,
                                                         dtype=torch.float32)
    hf = hf.float()  # remote-code or older models that ignore ``dtype``
    for m in hf.modules():  # dropout off (as TRL does): log-ratios to pi_ref must start at 0
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    names = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
    if not any(os.path.exists(os.path.join(path, n)) for n in names):
        raise ConfigError(f"--model {path}: could not load a tokenizer from it (none of "
                          f"{', '.join(names)} is there)")
    try:
        tok = HFTokenizer(transformers.AutoTokenizer.from_pretrained(path, local_files_only=True))
    except (OSError, ValueError) as e:
        raise ConfigError(f"--model {path}: could not load a tokenizer from it ({e})") from e
    top = max([*tok.encode("abcdefghijklmnop:"), tok.eos_id, tok.pad_id])
    if top >= hf.get_input_embeddings().num_embeddings:
        raise ConfigError(f"--model {path}: the tokenizer gives id {top}, beyond the model's "
                          f"{hf.get_input_embeddings().num_embeddings} embeddings")
    return HFCausalLM(hf, path), tok
