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


# ---- a real-checkpoint shape: untied lm_head, saved in bf16 (Llama-shaped) -----------------
@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory, hf_dir: Path) -> Path:
    path = tmp_path_factory.mktemp("llama")
    transformers.AutoTokenizer.from_pretrained(hf_dir).save_pretrained(path)
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=20, hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=1, num_attention_heads=2,
                                   num_key_value_heads=2, max_position_embeddings=64,
                                   tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                                   pad_token_id=0)
    transformers.LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(path)
    return path


def test_bf16_checkpoint_loads_fp32_master_weights(llama_dir: Path) -> None:
    from alignment_train.common import load_hf

    on_disk = transformers.LlamaForCausalLM.from_pretrained(llama_dir)
    assert {p.dtype for p in on_disk.parameters()} == {torch.bfloat16}  # what "auto" gives
    model, _ = load_hf(str(llama_dir))
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    for a, b in zip(model.hf.parameters(), on_disk.parameters(), strict=True):
        assert torch.equal(a, b.float())  # the same numbers, widened


def test_scalar_head_reads_the_last_hidden_state_not_lm_head(llama_dir: Path) -> None:
    from alignment_train.common import load_hf
    from alignment_train.model import ScalarModel
    from alignment_train.ppo import critic_values

    trunk, _ = load_hf(str(llama_dir))
    assert not trunk.output_is_tied()
    rm = ScalarModel(trunk)

    def never(*_: object) -> None:
        raise AssertionError("lm_head was called")

    hook = trunk.hf.lm_head.register_forward_hook(never)
    ids = torch.randint(3, 20, (3, 7))
    mask = torch.ones(3, 7)
    torch.nn.init.normal_(rm.head.weight)
    v = critic_values(rm, ids, mask)
    v.sum().backward()
    hook.remove()
    with torch.no_grad():  # equals the head applied to the full model's last hidden state
        h = trunk.hf(input_ids=ids, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(rm(ids), rm.head(h).squeeze(-1))
    trainable = [(n, p) for n, p in rm.named_parameters() if p.requires_grad]
    assert all(p.grad is not None for _, p in trainable)  # what DDP needs: no unused parameter
    assert not trunk.hf.lm_head.weight.requires_grad  # the untied output layer is frozen


def test_kv_cached_decoding_equals_full_forward(llama_dir: Path) -> None:
    from alignment_train.common import load_hf

    model, _ = load_hf(str(llama_dir))
    prompts = [[1, 5, 6, 7, 3], [1, 8, 3], [1, 4, 9, 4, 10, 4, 3]]
    L = max(map(len, prompts))
    ids = torch.zeros(3, L, dtype=torch.long)
    att = torch.zeros(3, L, dtype=torch.long)
    for i, p in enumerate(prompts):  # left padding, as generate does
        ids[i, L - len(p):], att[i, L - len(p):] = torch.tensor(p), 1
    pos = (att.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        first, cache = model.decode(ids, att, pos)
        nxt = torch.tensor([[11], [12], [13]])
        second, _ = model.decode(nxt, torch.cat([att, torch.ones(3, 1, dtype=torch.long)], 1),
                                 pos[:, -1:] + 1, cache)
        for i, p in enumerate(prompts):
            torch.testing.assert_close(first[i], model(torch.tensor([p]))[0][0, -1])
            torch.testing.assert_close(second[i], model(torch.tensor([[*p, 11 + i]]))[0][0, -1])
        right = torch.tensor([[*p, *[0] * (L - len(p))] for p in prompts])  # logits_to_keep
        torch.testing.assert_close(model(right, keep=3)[0], model(right)[0][:, -3:])


def test_untied_bf16_model_trains_sft_then_rm_and_dpo(llama_dir: Path, tmp_path: Path) -> None:
    common = ["eval_prompts=8", "batch_size=4", "steps=2", "log_every=1", "threads=1"]
    assert cli.main(["sft", "--model", str(llama_dir), "--set", *common,
                     f"out_dir={tmp_path / 'sft'}"]) == 0
    assert cli.main(["rm", "--set", *common, f"init_from={tmp_path / 'sft'}", "best_of=2",
                     f"out_dir={tmp_path / 'rm'}"]) == 0
    rm, _ = load_model(tmp_path / "rm")
    assert {p.dtype for p in rm.parameters()} == {torch.float32}
    sft, _ = load_model(tmp_path / "sft")
    trained = dict(rm.trunk.named_parameters())
    moved = [k for k, p in sft.named_parameters() if not torch.equal(p, trained[k])]
    assert moved and not any("lm_head" in k for k in moved)  # the trunk trained, not lm_head
    s = json.loads((tmp_path / "rm" / "summary.json").read_text())
    assert float(rm.score_mean) == pytest.approx(s["sft_score_mean"])  # saved for PPO
    assert cli.main(["dpo", "--model", str(llama_dir), "--set", *common,
                     f"init_from={tmp_path / 'sft'}", f"out_dir={tmp_path / 'dpo'}"]) == 0
    first = json.loads((tmp_path / "dpo" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["loss"] == pytest.approx(0.6931471805599453, abs=1e-6)
