"""Shared pieces: encoding and batching, per-token log-probs, sampling, evaluation, loading."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import ConfigError
from .model import GPT, GPTConfig, HFCausalLM
from .task import CharTokenizer, HFTokenizer, Task, Tokenizer


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


# ---- log-probabilities --------------------------------------------------------------------
def token_logps(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``log pi(ids[:, t] | ids[:, :t])`` aligned with ``ids``: ``(B, T)``, column 0 is 0.

    Computed in float32 even under bf16 autocast.
    """
    lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, T-1, V)
    picked = lp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
    return F.pad(picked, (1, 0))  # (B, T)


def sequence_logps(tok_lp: torch.Tensor, mask: torch.Tensor, average: bool = False) -> torch.Tensor:
    """Sum (or mean, ``average=True``) of per-token log-probs over the response: ``(B,)``."""
    total = (tok_lp * mask).sum(-1)  # (B,)
    return total / mask.sum(-1).clamp(min=1) if average else total


def response_logps(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token log-probs of the response tokens ``(B, T)``, zero elsewhere."""
    logits, _ = model(ids)  # (B, T, V)
    return token_logps(logits, ids) * mask  # (B, T)


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
) -> list[list[int]]:
    """Sample one response per prompt (ids, EOS included when it was sampled).

    No KV cache: each step runs the whole right-padded buffer, which is exact for causal
    models and plenty fast for the default task.
    """
    B = len(prompts)
    lens = torch.tensor([len(p) for p in prompts])
    device = next(model.parameters()).device
    buf = torch.full((B, int(lens.max()) + max_new_tokens), pad_id, dtype=torch.long)
    for i, p in enumerate(prompts):
        buf[i, : len(p)] = torch.tensor(p)
    done = torch.zeros(B, dtype=torch.bool)
    out: list[list[int]] = [[] for _ in range(B)]
    rows = torch.arange(B)
    for _ in range(max_new_tokens):
        T = int(lens.max())
        logits, _ = model(buf[:, :T].to(device))  # (B, T, V)
        last = logits[rows.to(device), (lens - 1).to(device)].float().cpu()  # (B, V)
        probs = torch.softmax(last / temperature, dim=-1)
        nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)
        for i in torch.nonzero(~done).flatten().tolist():
            out[i].append(int(nxt[i]))
            buf[i, lens[i]] = nxt[i]
        done |= nxt == eos_id
        lens = torch.where(done, lens, lens + 1)
        if bool(done.all()):
            break
    return out


# ---- evaluation --------------------------------------------------------------------------
@torch.no_grad()
def evaluate(
    policy: nn.Module, ref: nn.Module, tok: Tokenizer, task: Task, prompts: Sequence[str], seed: int
) -> dict[str, float]:
    """True reward, length and KL(pi || pi_ref) of sampled responses on held-out prompts.

    KL is the Monte-Carlo estimate ``E_{y~pi}[log pi(y|x) - log pi_ref(y|x)]`` over whole
    responses (nats per response), from one sample per prompt at temperature 1.
    """
    was_training = policy.training
    policy.eval()
    gen = torch.Generator().manual_seed(seed)
    enc = [encode_prompt(tok, p) for p in prompts]
    responses = generate(policy, enc, task.max_new_tokens, tok.eos_id, tok.pad_id, gen)
    texts = [tok.decode(r) for r in responses]
    device = next(policy.parameters()).device
    ids, mask = collate(enc, responses, tok.pad_id)
    ids, mask = ids.to(device), mask.to(device)
    kl = (response_logps(policy, ids, mask) - response_logps(ref, ids, mask)).sum(-1)  # (B,)
    policy.train(was_training)
    rewards = [task.true_reward(p, t) for p, t in zip(prompts, texts, strict=True)]
    return {
        "true_reward": sum(rewards) / len(rewards),
        "kl": float(kl.mean()),
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
    """Load a local Hugging Face causal LM and its tokenizer (``transformers`` imported lazily)."""
    if not os.path.isdir(path):
        raise ConfigError(f"--model {path}: no such directory (a local Hugging Face model folder)")
    if not os.path.exists(os.path.join(path, "config.json")):
        raise ConfigError(f"--model {path}: no config.json in that folder")
    try:
        import transformers
    except ImportError as e:
        raise ConfigError("--model needs `transformers`: pip install 'alignment-math[train]'") from e
    hf = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
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
