"""A small GPT (nanoGPT-sized) and the wrappers that give every model one interface.

Every language model used by the trainers is called as ``logits, hidden = model(ids)`` with
``ids`` of shape ``(B, T)``, returning ``logits (B, T, V)`` and the last hidden states
``(B, T, C)``. Our :class:`GPT` does this natively; :class:`HFCausalLM` adapts a Hugging Face
causal LM loaded from a local path. Reward models and critics are a language-model trunk
plus a linear scalar head (:class:`ScalarModel`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, nh, T, hs)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(), nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


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

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        T = ids.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size={self.config.block_size}")
        pos = torch.arange(T, device=ids.device)
        x = self.wte(ids) + self.wpe(pos)  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        h = self.ln_f(x)  # (B, T, C)
        return h @ self.wte.weight.T, h  # logits (B, T, V), hidden (B, T, C)


class HFCausalLM(nn.Module):
    """Adapts a ``transformers`` causal LM to the ``logits, hidden = model(ids)`` interface."""

    def __init__(self, hf_model: nn.Module, path: str) -> None:
        super().__init__()
        self.hf = hf_model
        self.path = path

    @property
    def hidden_size(self) -> int:
        return int(self.hf.config.hidden_size)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Right padding + causal attention: real tokens never attend to the pads after them.
        out = self.hf(input_ids=ids, output_hidden_states=True, use_cache=False)
        return out.logits, out.hidden_states[-1]  # (B, T, V), (B, T, C)


class ScalarModel(nn.Module):
    """A language-model trunk with a linear head giving one scalar per position: ``(B, T)``.

    Used as the reward model (read at the last token of each response) and as PPO's critic.
    """

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = nn.Linear(trunk.hidden_size, 1)  # type: ignore[arg-type]
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        _, h = self.trunk(ids)  # (B, T, C)
        return self.head(h).squeeze(-1)  # (B, T)
