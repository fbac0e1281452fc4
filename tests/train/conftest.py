"""Shared fixtures for the training-reference tests: one small SFT model per session, and a
tiny *untied* Hugging Face model saved in bf16 (the shape of a real checkpoint)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _train_helpers import hf_settings

# <|user|> / <|assistant|> render chat messages; a response ends with <eos>
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<|user|>{{ m['content'] }}"
    "{% else %}<|assistant|>{{ m['content'] }}<eos>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="session")
def sft_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A briefly trained SFT model (a few seconds): the start and reference of later stages."""
    pytest.importorskip("torch")
    from alignment_train.sft import SFTConfig, train

    out = tmp_path_factory.mktemp("sft")
    train(SFTConfig(out_dir=str(out), steps=150, n_examples=4000, eval_prompts=64, lr=3e-3,
                    threads=1))
    return str(out)


@pytest.fixture(scope="session")
def untied_hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer Llama-shaped causal LM (hidden 32, ``tie_word_embeddings=False``) saved in
    **bf16**, with a character tokenizer made in code that has a chat template."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    from alignment_train.task import LETTERS, SEP

    path = tmp_path_factory.mktemp("untied")
    special = ["<pad>", "<bos>", "<eos>", "<|user|>", "<|assistant|>"]
    vocab = {t: i for i, t in enumerate([*special, SEP, *LETTERS])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<pad>"))
    tok.add_special_tokens(special)  # matched whole, before the split into characters
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex("."), "isolated")
    tok.decoder = tokenizers.decoders.Fuse()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    transformers.LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def hf_chain(untied_hf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """SFT then a reward model on the untied model, one process each: the starting points of
    the multi-process tests. Returns the folders by stage."""
    from alignment_train import reward_model, sft

    out = tmp_path_factory.mktemp("hf_chain")
    sft.train(sft.SFTConfig(**hf_settings(model=str(untied_hf_dir), out_dir=str(out / "sft"),
                                          steps=4, batch_size=8, n_examples=64)))
    reward_model.train(reward_model.RMConfig(**hf_settings(
        init_from=str(out / "sft"), out_dir=str(out / "rm"), steps=2, n_pairs=32,
        heldout_pairs=8, best_of=2)))
    return {"base": str(untied_hf_dir), "sft": str(out / "sft"), "rm": str(out / "rm")}


@pytest.fixture(scope="session")
def torchrun_out(sft_dir: str, hf_chain: dict[str, str],
                 tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One torchrun launch (2 CPU processes, gloo) of tests/train/_ddp_worker.py, which runs
    every multi-process job of the tests; returns its output folder."""
    import os
    import subprocess
    import sys

    here = Path(__file__).parent
    out = tmp_path_factory.mktemp("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(here / "_ddp_worker.py"), str(out), sft_dir, hf_chain["sft"], hf_chain["rm"]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return out


@pytest.fixture(scope="session")
def dpo_single(sft_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 1-process DPO run with the settings of the worker's DDP and FSDP2 runs."""
    from _train_helpers import ddp_settings
    from alignment_train import dpo

    out = tmp_path_factory.mktemp("dpo_single")
    dpo.train(dpo.DPOConfig(**ddp_settings(sft_dir), out_dir=str(out)))
    return out
