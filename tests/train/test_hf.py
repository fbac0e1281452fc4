"""--model PATH: a local Hugging Face causal LM (tiny random GPT-2 config saved to a temp dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from alignment_train import cli  # noqa: E402
from alignment_train.engine import load_model  # noqa: E402
from alignment_train.model import HFCausalLM  # noqa: E402
from alignment_train.task import LETTERS, SEP  # noqa: E402


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hf")
    vocab = {t: i for i, t in enumerate(["<pad>", "<bos>", "<eos>", SEP, *LETTERS])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex("."), "isolated")
    tok.decoder = tokenizers.decoders.Fuse()  # join characters without spaces
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")
    fast.save_pretrained(path)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=32, n_layer=1,
                                  n_head=2, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(path)
    return path


def test_hf_model_trains_with_sft_and_dpo(hf_dir: Path, tmp_path: Path) -> None:
    common = ["eval_prompts=8", "batch_size=4", "steps=2", "log_every=1", "threads=1"]
    assert cli.main(["sft", "--model", str(hf_dir), "--set", *common,
                     f"out_dir={tmp_path / 'sft'}"]) == 0
    model, tok = load_model(tmp_path / "sft")
    assert isinstance(model, HFCausalLM)
    assert tok.decode(tok.encode("abc")) == "abc"
    original = transformers.GPT2LMHeadModel.from_pretrained(hf_dir)
    moved = [not torch.equal(a, b) for a, b in
             zip(model.hf.parameters(), original.parameters(), strict=True)]
    assert all(moved)  # every parameter was trained (as TRL's tests check)

    assert cli.main(["dpo", "--model", str(hf_dir), "--set", *common,  # SFT -> DPO by flags
                     f"init_from={tmp_path / 'sft'}", f"out_dir={tmp_path / 'dpo'}"]) == 0
    s = json.loads((tmp_path / "dpo" / "summary.json").read_text())
    assert s["before"]["kl"] == 0.0 and s["after"]["kl"] != 0.0
    first = json.loads((tmp_path / "dpo" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["loss"] == pytest.approx(0.6931471805599453, abs=1e-6)  # policy = reference


def test_hf_folder_without_tokenizer_is_a_clear_error(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cfg = transformers.GPT2Config(vocab_size=20, n_positions=32, n_embd=16, n_layer=1, n_head=2)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    out = f"out_dir={tmp_path / 'out'}"
    assert cli.main(["sft", "--model", str(tmp_path), "--set", "steps=1", out]) == 2
    assert "could not load a tokenizer" in capsys.readouterr().err
