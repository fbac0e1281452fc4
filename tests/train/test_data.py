"""alignment_train.data: TRL-format records from JSONL / folders, chat templates, truncation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alignment_train.config import ConfigError
from alignment_train.data import (
    DataWarning,
    load_records,
    preference_examples,
    prompt_examples,
    sft_examples,
    splits,
    unpaired_examples,
)
from alignment_train.task import CharTokenizer, HFTokenizer

WORDS = "hi what colour is the sky it blue green red grass sea a b c d e f g h".split()
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> "
    "{% endfor %}{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def make_tok(template: str | None = TEMPLATE) -> HFTokenizer:
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    special = ["<pad>", "<unk>", "<bos>", "<eos>", "<|end|>", "<|user|>", "<|assistant|>",
               "<|system|>"]
    vocab = {t: i for i, t in enumerate(special + WORDS)}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(special)
    tok.decoder = tokenizers.decoders.WordPiece()  # join with spaces
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
        unk_token="<unk>")
    if template is not None:
        fast.chat_template = template
    return HFTokenizer(fast)


def ids(tok: HFTokenizer, text: str) -> list[int]:
    return [tok.tok.convert_tokens_to_ids(t) for t in text.split()]


def write_jsonl(path: Path, rows: list[Any]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


USER = [{"role": "user", "content": "what colour is the sky"}]
BLUE = [{"role": "assistant", "content": "it is blue"}]
GREEN = [{"role": "assistant", "content": "it is green"}]


# ---- reading ---------------------------------------------------------------------------------
def test_jsonl_file_and_folder_of_splits(tmp_path: Path) -> None:
    rows = [{"prompt": "hi", "completion": "blue"}, {"prompt": "sky", "completion": "red"}]
    f = write_jsonl(tmp_path / "one.jsonl", rows)
    assert load_records(f) == rows and splits(f) == ["train"]
    with pytest.raises(ConfigError, match="single file, so it has no 'test' split"):
        load_records(f, "test")
    d = tmp_path / "d"
    d.mkdir()
    write_jsonl(d / "train.jsonl", rows)
    write_jsonl(d / "test.jsonl", rows[:1])
    assert load_records(str(d), "test") == rows[:1] and splits(str(d)) == ["test", "train"]
    with pytest.raises(ConfigError, match=r"has no eval\.jsonl"):
        load_records(str(d), "eval")
    (tmp_path / "list.json").write_text(json.dumps(rows))  # a .json file holding a list
    assert load_records(str(tmp_path / "list.json")) == rows
    (tmp_path / "obj.json").write_text(json.dumps({"train": rows}))
    with pytest.raises(ConfigError, match="must hold a list of records"):
        load_records(str(tmp_path / "obj.json"))


def test_reading_errors_name_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        load_records(str(tmp_path / "nope.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "completion": "a"}\n\n{"prompt": "hi", \n')
    with pytest.raises(ConfigError, match=r"bad.jsonl line 3: not valid JSON"):
        load_records(str(bad))
    bad.write_text('{"prompt": "hi", "completion": "a"}\n["a", "b"]\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl line 2: expected a JSON object.*list"):
        load_records(str(bad))
    bad.write_text("\n\n")
    with pytest.raises(ConfigError, match="holds no records"):
        load_records(str(bad))
    rows = write_jsonl(tmp_path / "r.jsonl", [{"prompt": "a"}, {"prompt": "b", "chosen": "c"}])
    recs = load_records(rows)
    with pytest.raises(ConfigError, match=r"r.jsonl line 1: an SFT record needs 'prompt' and "
                       r"'completion'.*missing 'completion'; it has prompt"):
        sft_examples(recs, CharTokenizer(), 64)
    with pytest.raises(ConfigError, match=r"r.jsonl line 1: a preference record needs 'chosen' "
                       r"and 'rejected'"):
        preference_examples(recs, CharTokenizer(), 64)
    with pytest.raises(ConfigError, match=r"r.jsonl line 2: a preference record.*missing "
                       r"'rejected'"):
        preference_examples(recs[1:], CharTokenizer(), 64)
    lab = load_records(write_jsonl(tmp_path / "k.jsonl",
                                   [{"prompt": "a", "completion": "b", "label": "yes"}]))
    with pytest.raises(ConfigError, match=r"k.jsonl line 1: 'label' must be true or false, got "
                       r'"yes"'):
        unpaired_examples(lab, CharTokenizer(), 64)
    typ = load_records(write_jsonl(tmp_path / "t.jsonl", [{"prompt": "a", "completion": "b"},
                                                          {"prompt": 5, "completion": 6}]))
    with pytest.raises(ConfigError, match=r"t.jsonl line 2: 'prompt' must be a string or a "
                       r"non-empty list of .* messages, got 5"):
        sft_examples(typ, CharTokenizer(), 64)
    odd = load_records(write_jsonl(tmp_path / "x.jsonl", [{"prompt": "a", "completion": "xyz"}]))
    with pytest.raises(ConfigError, match=r"x.jsonl line 1: characters \['x', 'y', 'z'\]"):
        sft_examples(odd, CharTokenizer(), 64)


def test_saved_datasets_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")  # optional: only for save_to_disk folders
    rows = [{"prompt": "hi", "chosen": "blue", "rejected": "red"}] * 3
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows),
                          "test": datasets.Dataset.from_list(rows[:1])}).save_to_disk(
                              str(tmp_path / "dd"))
    assert load_records(str(tmp_path / "dd"), "test") == rows[:1]
    assert splits(str(tmp_path / "dd")) == ["train", "test"]
    with pytest.raises(ConfigError, match="has no 'eval' split \\(it has train, test\\)"):
        load_records(str(tmp_path / "dd"), "eval")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "one"))
    recs = load_records(str(tmp_path / "one"))
    assert recs == rows
    bad = [{"prompt": "hi", "chosen": "blue"}]
    datasets.Dataset.from_list(bad).save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(ConfigError, match=r"bad \[train\] row 0: a preference record"):
        preference_examples(load_records(str(tmp_path / "bad")), make_tok(), 64)


def test_saved_folder_without_datasets_is_one_sentence(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    (tmp_path / "state.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(ConfigError, match=r"needs the datasets package \(pip install datasets\)"):
        load_records(str(tmp_path))


# ---- standard records -----------------------------------------------------------------------
def test_standard_records_bos_eos_and_the_synthetic_convention() -> None:
    tok = CharTokenizer()
    (p, r), = sft_examples([{"prompt": "abcd:", "completion": "ab"}], tok, 64)
    # the same ids as the built-in task's encode_prompt("abcd") / encode_response("ab")
    assert p == [tok.bos_id, *tok.encode("abcd:")] and r == [*tok.encode("ab"), tok.eos_id]
    hf = make_tok()
    (p, r), = sft_examples([{"prompt": "what colour", "completion": "blue"}], hf, 64)
    assert p == ids(hf, "<bos> what colour") and r == ids(hf, "blue <eos>")
    (p, r), = sft_examples([{"text": "the sky is blue"}], hf, 64)
    assert p == ids(hf, "<bos>") and r == ids(hf, "the sky is blue <eos>")
    (p, c, r), = preference_examples([{"prompt": "sky", "chosen": "blue", "rejected": "red"}],
                                     hf, 64)
    assert (p, c, r) == (ids(hf, "<bos> sky"), ids(hf, "blue <eos>"), ids(hf, "red <eos>"))
    out = unpaired_examples([{"prompt": "sky", "completion": "blue", "label": True},
                             {"prompt": "sky", "completion": "red", "label": False}], hf, 64)
    assert out == [(ids(hf, "<bos> sky"), ids(hf, "blue <eos>"), True),
                   (ids(hf, "<bos> sky"), ids(hf, "red <eos>"), False)]
    assert prompt_examples([{"prompt": "the sky"}], hf, 64) == [ids(hf, "<bos> the sky")]


def test_implicit_prompt_and_paired_records_for_kto() -> None:
    hf = make_tok()
    (p, c, r), = preference_examples([{"chosen": "the sky is blue", "rejected": "the sky is red"}],
                                     hf, 64)
    assert (p, c, r) == (ids(hf, "<bos> the sky is"), ids(hf, "blue <eos>"), ids(hf, "red <eos>"))
    out = unpaired_examples([{"prompt": "sky", "chosen": "blue", "rejected": "red"}], hf, 64)
    assert [x[2] for x in out] == [True, False] and out[1][1] == ids(hf, "red <eos>")


# ---- conversational records and the chat template ---------------------------------------------
def test_chat_template_prompt_and_completion() -> None:
    hf = make_tok()
    prompt = ids(hf, "<bos> <|user|> what colour is the sky <|end|> <|assistant|>")
    answer = ids(hf, "it is blue <|end|> <eos>")  # the template's text after the prompt, + EOS
    (p, r), = sft_examples([{"prompt": USER, "completion": BLUE}], hf, 64)
    assert (p, r) == (prompt, answer)
    (p2, r2), = sft_examples([{"messages": USER + BLUE}], hf, 64)
    assert (p2, r2) == (prompt, answer)
    (p3, c3, r3), = preference_examples([{"prompt": USER, "chosen": BLUE, "rejected": GREEN}],
                                        hf, 64)
    assert (p3, c3) == (prompt, answer) and r3 == ids(hf, "it is green <|end|> <eos>")
    implicit = preference_examples([{"chosen": USER + BLUE, "rejected": USER + GREEN}], hf, 64)
    assert implicit == [(p3, c3, r3)]
    assert prompt_examples([{"prompt": USER}, {"messages": USER + BLUE}], hf, 64) == [prompt] * 2
    sys_msg = [{"role": "system", "content": "a b"}]
    (p4, _), = sft_examples([{"messages": sys_msg + USER + BLUE}], hf, 64)
    assert p4 == ids(hf, "<bos> <|system|> a b <|end|>") + prompt[1:]


def test_eos_not_doubled_when_the_template_ends_with_it() -> None:
    hf = make_tok()
    hf.tok.eos_token = "<|end|>"
    hf.eos_id = hf.tok.eos_token_id
    (_, r), = sft_examples([{"messages": USER + BLUE}], hf, 64)
    assert r == ids(hf, "it is blue <|end|>")


def test_conversational_errors() -> None:
    with pytest.raises(ConfigError, match=r"conversational.*no chat_template"):
        sft_examples([{"messages": USER + BLUE}], make_tok(template=None), 64)
    with pytest.raises(ConfigError, match="record 0: 'messages' must end with an assistant"):
        sft_examples([{"messages": USER}], make_tok(), 64)
    with pytest.raises(ConfigError, match="must both be strings or both lists of messages"):
        sft_examples([{"prompt": USER, "completion": "blue"}], make_tok(), 64)
    with pytest.raises(ConfigError, match='needs "role" and "content"'):
        sft_examples([{"prompt": [{"content": "x"}], "completion": BLUE}], make_tok(), 64)
    with pytest.raises(ConfigError, match="does not render the prompt as the start"):
        sft_examples([{"messages": USER + BLUE}], make_tok("{{ messages | length }}"), 64)


# ---- truncation ---------------------------------------------------------------------------------
def test_truncation_prompt_left_first_then_response_right() -> None:
    hf = make_tok()
    rec = {"prompt": "a b c d e f", "completion": "g h"}  # 7 + 3 tokens
    (p, r), = sft_examples([rec], hf, 8)  # the prompt loses 2 tokens after BOS
    assert p == ids(hf, "<bos> c d e f") and r == ids(hf, "g h <eos>")
    (p, r), = sft_examples([{"prompt": "a b c d e f", "completion": "g h a b c d"}], hf, 8)
    assert p == ids(hf, "<bos> d e f") and r == ids(hf, "g h a b")  # prompt keeps half: 4
    (p, c, r), = preference_examples([{"prompt": "a b c d e f", "chosen": "g", "rejected": "h h h"}],
                                     hf, 8)
    assert p == ids(hf, "<bos> d e f") and r == ids(hf, "h h h <eos>")  # the longer response
    assert c == ids(hf, "g <eos>")
    assert [len(x) for x in prompt_examples([{"prompt": "a b c d e f"}], hf, 3)] == [3]
    with pytest.raises(ConfigError, match="max_length must be >= 2"):
        sft_examples([rec], hf, 1)


def test_examples_that_cannot_be_used_are_dropped_with_a_count() -> None:
    hf = make_tok()
    recs = [{"prompt": "sky", "chosen": "blue blue a", "rejected": "blue blue b"},
            {"prompt": "sky", "chosen": "blue", "rejected": "red"},
            {"prompt": "sky", "chosen": "red", "rejected": "red"}]
    with pytest.warns(DataWarning, match=r"dropped 2 of 3 preference examples \(max_length=4\): "
                      r"2 whose chosen and rejected are identical"):
        out = preference_examples(recs, hf, 4)
    assert out == [(ids(hf, "<bos> sky"), ids(hf, "blue <eos>"), ids(hf, "red <eos>"))]
    tok = CharTokenizer()
    tok.bos_id = None  # type: ignore[assignment]
    with pytest.warns(DataWarning, match="dropped 1 of 2 SFT examples.*1 with an empty prompt"):
        assert len(sft_examples([{"prompt": "", "completion": "a"},
                                 {"prompt": "a:", "completion": "b"}], tok, 64)) == 1
    with pytest.raises(ConfigError, match="no usable preference example is left"), \
            pytest.warns(DataWarning):
        preference_examples(recs[2:], hf, 64)
