"""The default task: "stay on topic", with a known true reward and a flawed labeller.

A prompt is a few letters from ``a``–``p`` (its *topic*); a response is a string of letters.
The **true reward** is the fraction of response letters that occur in the prompt, minus a
small penalty per letter beyond a target length::

    R(x, y) = on_topic(x, y) - length_penalty * max(0, len(y) - target_len)

The SFT demonstrator is noisy (about half its letters are on topic), so there is room to
improve. Preference labels come from a Bradley–Terry labeller that *also likes length*::

    P(y1 preferred) = sigmoid(sharpness * (R(y1) - R(y2)) + length_bias * (len(y1) - len(y2)))

That is the deliberate flaw: a reward model learns the length bias, and a policy that
optimises it too hard grows long answers that the true reward penalises (Singhal et al. 2023).
Everything is generated from a seed with ``random.Random``: no downloads.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

LETTERS = "abcdefghijklmnop"
SEP = ":"


class Tokenizer(Protocol):
    pad_id: int
    eos_id: int
    bos_id: int | None
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class CharTokenizer:
    """One token per character, built in code: ``<pad> <bos> <eos> :`` then ``a``–``p``."""

    def __init__(self) -> None:
        self.itos = ["<pad>", "<bos>", "<eos>", SEP, *LETTERS]
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2
        self.vocab_size = len(self.itos)

    def encode(self, text: str) -> list[int]:
        bad = sorted({c for c in text if c not in self.stoi or len(c) != 1 or c in "<>"})
        if bad:
            raise ValueError(f"characters {bad} are not in the vocabulary ({SEP!r} and {LETTERS})")
        return [self.stoi[c] for c in text]

    def decode(self, ids: list[int]) -> str:
        out = []
        for i in ids:
            if i == self.eos_id:
                break
            if i >= 3:
                out.append(self.itos[i])
        return "".join(out)


class HFTokenizer:
    """Adapts a ``transformers`` tokenizer to the :class:`Tokenizer` protocol."""

    def __init__(self, tok: object) -> None:
        self.tok = tok
        eos = tok.eos_token_id  # type: ignore[attr-defined]
        if eos is None:
            raise ValueError("the tokenizer has no eos_token; set one before training")
        pad = tok.pad_token_id  # type: ignore[attr-defined]
        self.eos_id = int(eos)
        self.pad_id = int(pad) if pad is not None else self.eos_id
        bos = tok.bos_token_id  # type: ignore[attr-defined]
        self.bos_id = int(bos) if bos is not None else None
        self.vocab_size = len(tok)  # type: ignore[arg-type]

    def encode(self, text: str) -> list[int]:
        return list(self.tok.encode(text, add_special_tokens=False))  # type: ignore[attr-defined]

    def decode(self, ids: list[int]) -> str:
        if self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        return str(self.tok.decode(ids, skip_special_tokens=True))  # type: ignore[attr-defined]


@dataclass
class Task:
    prompt_len: tuple[int, int] = (4, 6)
    """Shortest and longest prompt, in letters."""
    demo_len: tuple[int, int] = (2, 10)
    """Shortest and longest demonstration / candidate response."""
    demo_on_topic: float = 0.5
    """Probability that a demonstrator letter is drawn from the prompt (else uniform)."""
    max_new_tokens: int = 12
    """Longest generated response, EOS included."""
    target_len: int = 6
    """Responses longer than this lose ``length_penalty`` per extra letter."""
    length_penalty: float = 0.05
    """True-reward penalty per letter beyond ``target_len``."""
    sharpness: float = 8.0
    """How strongly the labeller follows the true reward."""
    length_bias: float = 0.25
    """The labeller's flaw: extra log-odds per letter of length difference."""

    def prompt(self, rng: random.Random) -> str:
        return "".join(rng.choice(LETTERS) for _ in range(rng.randint(*self.prompt_len)))

    def demonstrate(self, prompt: str, rng: random.Random) -> str:
        n = rng.randint(*self.demo_len)
        on = [rng.random() < self.demo_on_topic for _ in range(n)]
        return "".join(rng.choice(prompt) if o else rng.choice(LETTERS) for o in on)

    def true_reward(self, prompt: str, response: str) -> float:
        if not response:
            return 0.0
        on_topic = sum(c in prompt and c in LETTERS for c in response) / len(response)
        return on_topic - self.length_penalty * max(0, len(response) - self.target_len)

    def prefers_first(self, prompt: str, a: str, b: str, rng: random.Random) -> bool:
        logit = self.sharpness * (self.true_reward(prompt, a) - self.true_reward(prompt, b))
        logit += self.length_bias * (len(a) - len(b))
        return rng.random() < 1.0 / (1.0 + math.exp(-logit))

    # ---- datasets (all deterministic in the seed) -------------------------------------
    def sft_data(self, n: int, seed: int) -> list[tuple[str, str]]:
        rng = random.Random(f"sft-{seed}")
        out = []
        for _ in range(n):
            x = self.prompt(rng)
            out.append((x, self.demonstrate(x, rng)))
        return out

    def preference_data(self, n: int, seed: int) -> list[tuple[str, str, str]]:
        """``(prompt, chosen, rejected)`` triples labelled by the flawed labeller."""
        rng = random.Random(f"pref-{seed}")
        out = []
        while len(out) < n:
            x = self.prompt(rng)
            a, b = self.demonstrate(x, rng), self.demonstrate(x, rng)
            if a == b:
                continue
            out.append((x, a, b) if self.prefers_first(x, a, b, rng) else (x, b, a))
        return out

    def eval_prompts(self, n: int, seed: int) -> list[str]:
        rng = random.Random(f"eval-{seed}")
        return [self.prompt(rng) for _ in range(n)]
