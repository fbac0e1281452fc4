"""Shared fixtures for the training-reference tests: one small SFT model per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def sft_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A briefly trained SFT model (a few seconds): the start and reference of later stages."""
    pytest.importorskip("torch")
    from alignment_train.sft import SFTConfig, train

    out = tmp_path_factory.mktemp("sft")
    train(SFTConfig(out_dir=str(out), steps=150, n_examples=4000, eval_prompts=64, lr=3e-3,
                    threads=1))
    return str(out)

