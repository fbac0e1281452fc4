"""A small GPT (nanoGPT-sized) and the wrappers that give every model one interface.

Every language model used by the trainers has one interface:

* ``logits, hidden = model(ids)`` with ``ids (B, T)``: ``logits (B, T, V)`` and the last hidden
  states ``(B, T, C)`` (training and scoring); ``model(ids, keep=k)`` computes the logits of
  the last ``k`` positions only, ``(B, k, V)`` (a prompt's logits are never needed);
* ``model.hidden_states(ids)``: only the last hidden states, without the output layer (no
  ``B x T x V`` activation; what reward models and critics read);
* ``logits, cache = model.decode(ids, attention_mask, position_ids, cache)``: the next-token
  logits ``(B, V)`` of the last position, with a key/value cache (sampling, left-padded).

Our :class:`GPT` does this natively; :class:`HFCausalLM` adapts a Hugging Face causal LM
loaded from a local path. Reward models and critics are a language-model trunk plus a
linear scalar head (:class:`ScalarModel`).
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GPTConfig:
    vocab_size: int = 20
    """Number of token ids (the built-in character tokenizer has 20)."""
    block_size: int = 32
    """Longest sequence (prompt + response) the model accepts."""
    n_layer: int = 2
    """Transformer blocks."""
    n_head: int = 4
    """Attention heads per block."""
    n_embd: int = 64
    """Width of the residual stream."""


KV = tuple[torch.Tensor, torch.Tensor]  # one layer's cached keys and values (B, nh, T, hs)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor, kv: KV | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, KV]:
        """``x (B, T, C)``; with ``kv`` (the cached keys/values of earlier positions) the
        boolean ``mask (B, 1, T, T_all)`` says which keys each query sees. Returns the output
        and the keys/values of all positions."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, nh, T, hs)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if kv is not None:
            k, v = torch.cat([kv[0], k], dim=2), torch.cat([kv[1], v], dim=2)
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C)), (k, v)  # (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(), nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        )

    def forward(self, x: torch.Tensor, kv: KV | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, KV]:
        a, kv = self.attn(self.ln1(x), kv, mask)
        x = x + a
        return x + self.mlp(self.ln2(x)), kv


class GPT(nn.Module):
    """Decoder-only transformer with learned positions and a tied output layer."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    @property
    def hidden_size(self) -> int:
        return self.config.n_embd

    def hidden_states(self, ids: torch.Tensor) -> torch.Tensor:
        """Last hidden states ``(B, T, C)`` (after the final LayerNorm)."""
        T = ids.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size={self.config.block_size}")
        x = self.wte(ids) + self.wpe(torch.arange(T, device=ids.device))  # (B, T, C)
        for block in self.blocks:
            x, _ = block(x)
        return self.ln_f(x)  # type: ignore[no-any-return]

    def forward(self, ids: torch.Tensor, keep: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden_states(ids)  # (B, T, C)
        out = h[:, -keep:] if keep else h  # the positions whose logits are wanted
        return out @ self.wte.weight.T, h  # logits (B, keep or T, V), hidden (B, T, C)

    def decode(self, ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
               cache: list[KV] | None = None) -> tuple[torch.Tensor, list[KV]]:
        """Next-token logits ``(B, V)`` after ``ids (B, T)``, the new tokens at ``position_ids``,
        given the ``cache`` of the earlier ones; ``attention_mask (B, T_all)`` is 0 on
        (left) padding. Returns the logits and the cache extended by these tokens."""
        T = ids.shape[1]
        if T > 1 and int(position_ids.max()) >= self.config.block_size:  # prefill: one check
            raise ValueError(f"position {int(position_ids.max())} exceeds "
                             f"block_size={self.config.block_size}")
        T_all = attention_mask.shape[1]
        x = self.wte(ids) + self.wpe(position_ids)  # (B, T, C)
        # query i (absolute T_all - T + i) sees earlier non-pad keys and always itself (so a
        # pad query never has an empty row, whose softmax would be NaN)
        q_at = torch.arange(T_all - T, T_all, device=ids.device)[:, None]  # (T, 1)
        k_at = torch.arange(T_all, device=ids.device)[None, :]  # (1, T_all)
        mask = ((k_at <= q_at) & attention_mask.bool()[:, None, :]) | (k_at == q_at)  # (B, T, T_all)
        new: list[KV] = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, cache[i] if cache else None, mask[:, None])
            new.append(kv)
        h = self.ln_f(x[:, -1])  # (B, C)
        return h @ self.wte.weight.T, new  # (B, V)


class HFCausalLM(nn.Module):
    """Adapts a ``transformers`` causal LM to the ``logits, hidden = model(ids)`` interface."""

    def __init__(self, hf_model: nn.Module, path: str) -> None:
        super().__init__()
        self.hf = hf_model
        self.path = path

    @property
    def hidden_size(self) -> int:
        return int(self.hf.config.hidden_size)

    def forward(self, ids: torch.Tensor, keep: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        # Right padding + causal attention: real tokens never attend to the pads after them.
        if keep and _accepts(type(self.hf), "logits_to_keep"):
            out = self.hf(input_ids=ids, output_hidden_states=True, use_cache=False,
                          logits_to_keep=keep)
            return out.logits, out.hidden_states[-1]  # (B, keep, V), (B, T, C)
        out = self.hf(input_ids=ids, output_hidden_states=True, use_cache=False)
        logits = out.logits[:, -keep:] if keep else out.logits
        return logits, out.hidden_states[-1]  # (B, keep or T, V), (B, T, C)

    def hidden_states(self, ids: torch.Tensor) -> torch.Tensor:
        """The backbone's last hidden state ``(B, T, C)``; the output layer is never called."""
        return self.hf.base_model(input_ids=ids, use_cache=False).last_hidden_state  # type: ignore[no-any-return]

    def decode(self, ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
               cache: Any = None) -> tuple[torch.Tensor, Any]:
        """Next-token logits ``(B, V)`` with the model's own key/value cache (see GPT.decode)."""
        name = _cache_argument(type(self.hf))
        out = self.hf(input_ids=ids, attention_mask=attention_mask, position_ids=position_ids,
                      use_cache=True, logits_to_keep=1, **{name: cache})
        return out.logits[:, -1], getattr(out, name)

    def output_is_tied(self) -> bool:
        """Whether the output layer shares its weight with the input embeddings."""
        out = self.hf.get_output_embeddings()
        return out is None or out.weight is self.hf.get_input_embeddings().weight


@functools.cache
def _accepts(cls: type, name: str) -> bool:
    return name in inspect.signature(cls.forward).parameters


def _cache_argument(cls: type) -> str:
    """transformers 5 calls the key/value cache ``cache``; 4.x called it ``past_key_values``."""
    return "cache" if _accepts(cls, "cache") else "past_key_values"


class ScalarModel(nn.Module):
    """A language-model trunk with a linear head giving one scalar per position: ``(B, T)``.

    Used as the reward model (read at the last token of each response) and as PPO's critic.
    The head reads the trunk's last hidden state; the trunk's output layer is never called,
    and an untied one (Llama, Pythia, Mistral…) is frozen, so under DDP every trainable
    parameter gets a gradient. ``score_mean`` / ``score_std`` (buffers, saved with the model)
    are the reward model's score statistics on SFT samples, used to normalise its rewards.
    """

    score_mean: torch.Tensor
    score_std: torch.Tensor

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = nn.Linear(trunk.hidden_size, 1)  # type: ignore[arg-type]
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("score_mean", torch.zeros(()))
        self.register_buffer("score_std", torch.ones(()))
        if isinstance(trunk, HFCausalLM) and not trunk.output_is_tied():
            trunk.hf.get_output_embeddings().requires_grad_(False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.trunk.hidden_states(ids)  # (B, T, C)
        return self.head(h).squeeze(-1)  # type: ignore[no-any-return]
