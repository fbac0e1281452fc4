"""Your own data: JSONL files (or a folder saved by ``datasets``) in TRL's formats, as token ids.

:func:`load_records` reads the records; one function per kind of stage turns them into the
token ids that :func:`alignment_train.common.collate` batches:

- :func:`sft_examples` (SFT): ``{"prompt", "completion"}``, ``{"messages"}`` or ``{"text"}``;
- :func:`preference_examples` (RM, DPO, ORPO): ``{"prompt", "chosen", "rejected"}``;
- :func:`unpaired_examples` (KTO): ``{"prompt", "completion", "label"}``;
- :func:`prompt_examples` (PPO): ``{"prompt"}`` (or ``{"messages"}``).

*Standard* records hold strings, used as they are (no separator is added between prompt and
response). *Conversational* records hold lists of ``{"role", "content"}`` messages; they are
rendered with the tokenizer's chat template: the prompt with the generation prompt, the
response as the text the template adds after it. Prompts start with BOS (when the tokenizer
has one and the text does not already), responses end with EOS. An example longer than
``max_length`` loses prompt tokens from the left first (the prompt keeps at least half of
``max_length``), then response tokens from the right. Examples that cannot be used (an empty
prompt, a pair that truncation made identical) are dropped and counted in a warning.

No torch here: this module needs only the standard library (and ``datasets`` for its folders).
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .config import ConfigError
from .task import Tokenizer

Messages = list[dict[str, Any]]


class DataWarning(UserWarning):
    """Some records were dropped (they cannot fit ``max_length`` or carry no signal)."""


class Record(dict):  # type: ignore[type-arg]
    """A record (a plain dict) that remembers where it came from, for error messages."""

    where: str = "a record"


def _record(row: Any, where: str) -> Record:
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: expected a JSON object (a record), got {type(row).__name__}")
    rec = Record(row)
    rec.where = where
    return rec


def _where(rec: dict[str, Any], i: int) -> str:
    return getattr(rec, "where", f"record {i}")


# ---- reading records ---------------------------------------------------------------------
def load_records(source: str, split: str = "train") -> list[dict[str, Any]]:
    """Records from a ``.jsonl`` (or ``.json`` list) file, a folder holding ``<split>.jsonl``,
    or a folder written by ``datasets``' ``save_to_disk`` (needs the ``datasets`` package)."""
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"data {source}: no such file or folder")
    if path.is_file():
        if split != "train":
            raise ConfigError(f"data {source} is a single file, so it has no {split!r} split; "
                              f"use a folder holding train.jsonl and {split}.jsonl")
        return _read_file(path)
    for ext in (".jsonl", ".json"):
        if (path / f"{split}{ext}").is_file():
            return _read_file(path / f"{split}{ext}")
    if _is_saved_dataset(path):
        return _read_saved(path, split)
    raise ConfigError(f"data folder {source} has no {split}.jsonl and is not a folder written "
                      f"by datasets' save_to_disk")


def splits(source: str) -> list[str]:
    """The splits that :func:`load_records` can read from ``source`` (``[]`` if none)."""
    path = Path(source)
    if path.is_file():
        return ["train"]
    if not path.is_dir():
        return []
    if (path / "dataset_dict.json").is_file():
        return [str(s) for s in json.loads((path / "dataset_dict.json").read_text())["splits"]]
    if _is_saved_dataset(path):
        return ["train"]
    names = {p.stem for p in path.iterdir() if p.suffix in (".jsonl", ".json") and p.is_file()}
    return sorted(names)


def _read_file(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} line {e.lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(rows, list):
            raise ConfigError(f"{path}: a .json data file must hold a list of records "
                              f"(or use .jsonl, one record per line)")
        records: list[dict[str, Any]] = [_record(r, f"{path} record {i}")
                                          for i, r in enumerate(rows)]
    else:
        records = []
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ConfigError(f"{path} line {n}: not valid JSON ({e.msg})") from None
                records.append(_record(row, f"{path} line {n}"))
    if not records:
        raise ConfigError(f"{path} holds no records")
    return records


def _is_saved_dataset(path: Path) -> bool:
    return any((path / n).is_file() for n in ("dataset_dict.json", "dataset_info.json", "state.json"))


def _read_saved(path: Path, split: str) -> list[dict[str, Any]]:
    try:
        import datasets  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise ConfigError(f"data {path} is a folder written by datasets' save_to_disk; reading "
                          f"it needs the datasets package (pip install datasets)") from None
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise ConfigError(f"data {path} has no {split!r} split (it has "
                              f"{', '.join(ds.keys())})")
        ds = ds[split]
    elif split != "train":
        raise ConfigError(f"data {path} is a single dataset, so it has no {split!r} split")
    records: list[dict[str, Any]] = [_record(row, f"{path} [{split}] row {i}")
                                      for i, row in enumerate(ds)]
    if not records:
        raise ConfigError(f"data {path} [{split}] holds no records")
    return records


# ---- one record's text and tokens -----------------------------------------------------------
def _is_messages(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(m, dict) for m in x)


def _check_messages(x: Any, key: str, where: str) -> Messages:
    if not _is_messages(x) or not x:
        raise ConfigError(f"{where}: {key!r} must be a string or a non-empty list of "
                          f'{{"role", "content"}} messages, got {_short(x)}')
    for m in x:
        if "role" not in m or "content" not in m:
            raise ConfigError(f"{where}: every message in {key!r} needs \"role\" and "
                              f"\"content\", got {_short(m)}")
    return list(x)


def _short(x: Any) -> str:
    text = json.dumps(x, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _need(rec: dict[str, Any], keys: Sequence[str], what: str, where: str) -> None:
    missing = [k for k in keys if k not in rec]
    if missing:
        has = ", ".join(rec) or "no keys"
        raise ConfigError(f"{where}: {what} record needs {' and '.join(map(repr, keys))} "
                          f"(missing {', '.join(map(repr, missing))}; it has {has})")


class _Encoder:
    """Text -> ids with BOS/EOS, and chat-template rendering, for one tokenizer."""

    def __init__(self, tok: Tokenizer, max_length: int) -> None:
        if max_length < 2:
            raise ConfigError(f"max_length must be >= 2 (a prompt token and a response token), "
                              f"got {max_length}")
        self.tok, self.max_length = tok, max_length
        hf: Any = getattr(tok, "tok", tok)  # HFTokenizer wraps a transformers tokenizer
        has = getattr(hf, "chat_template", None) and hasattr(hf, "apply_chat_template")
        self.template = hf if has else None

    def encode(self, text: str, where: str) -> list[int]:
        try:
            return list(self.tok.encode(text))
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None

    def prompt_ids(self, text: str, where: str) -> list[int]:
        ids = self.encode(text, where)
        bos = self.tok.bos_id
        return ids if bos is None or ids[:1] == [bos] else [bos, *ids]

    def response_ids(self, text: str, where: str) -> list[int]:
        ids = self.encode(text, where)
        return ids if ids[-1:] == [self.tok.eos_id] else [*ids, self.tok.eos_id]

    def render(self, messages: Messages, where: str, generation_prompt: bool) -> str:
        if self.template is None:
            raise ConfigError(f"{where}: the record is conversational (lists of messages) but "
                              f"the tokenizer has no chat_template; use strings or a tokenizer "
                              f"with a template")
        try:
            out = self.template.apply_chat_template(messages, tokenize=False,
                                                    add_generation_prompt=generation_prompt)
        except Exception as e:  # jinja errors, raise_exception() in templates
            raise ConfigError(f"{where}: the chat template failed on this record ({e})") from None
        return str(out)

    def pair(self, prompt: Any, response: Any, where: str, pkey: str, rkey: str,
             ) -> tuple[list[int], list[int]]:
        """(prompt ids, response ids) for a standard or a conversational prompt/response."""
        if isinstance(prompt, str) and isinstance(response, str):
            return self.prompt_ids(prompt, where), self.response_ids(response, where)
        if isinstance(prompt, str) or isinstance(response, str):
            raise ConfigError(f"{where}: {pkey!r} and {rkey!r} must both be strings or both "
                              f"lists of messages, got {_short(prompt)} and {_short(response)}")
        p = _check_messages(prompt, pkey, where) if prompt != [] else []
        r = _check_messages(response, rkey, where)
        head = self.render(p, where, generation_prompt=True) if p else ""
        full = self.render(p + r, where, generation_prompt=False)
        if not full.startswith(head):
            raise ConfigError(f"{where}: the chat template does not render the prompt as the "
                              f"start of prompt + {rkey}, so the response cannot be split off")
        return self.prompt_ids(head, where), self.response_ids(full[len(head):], where)

    def prompt_only(self, prompt: Any, where: str, key: str) -> list[int]:
        if isinstance(prompt, str):
            return self.prompt_ids(prompt, where)
        return self.prompt_ids(self.render(_check_messages(prompt, key, where), where, True), where)

    def fit(self, prompt: list[int], responses: list[list[int]],
            ) -> tuple[list[int], list[list[int]]]:
        """Truncate to ``max_length``: the prompt from the left (keeping a leading BOS and at
        least half the budget), then the responses from the right."""
        L = self.max_length
        longest = max(len(r) for r in responses)
        if len(prompt) + longest <= L:
            return prompt, responses
        keep = max(L - longest, min(len(prompt), L // 2))
        if keep < len(prompt):
            bos = self.tok.bos_id
            head = prompt[:1] if bos is not None and prompt[:1] == [bos] and keep > 1 else []
            prompt = head + prompt[len(prompt) - (keep - len(head)):]
        room = L - len(prompt)
        return prompt, [r[:room] for r in responses]


def _split_messages(messages: Any, where: str) -> tuple[Messages, Messages]:
    """``messages`` -> (every message before the last, the last one, which must be the
    assistant's)."""
    msgs = _check_messages(messages, "messages", where)
    if msgs[-1].get("role") != "assistant":
        raise ConfigError(f"{where}: 'messages' must end with an assistant message (the response "
                          f"to learn), got role {msgs[-1].get('role')!r}")
    return msgs[:-1], msgs[-1:]


def _implicit_prompt(chosen: Any, rejected: Any, where: str) -> tuple[Any, Any, Any]:
    """TRL's implicit prompt: the longest shared start of ``chosen`` and ``rejected``
    (whole messages for conversations, characters for strings)."""
    if isinstance(chosen, str) and isinstance(rejected, str):
        n = 0
        while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
            n += 1
        return chosen[:n], chosen[n:], rejected[n:]
    c = _check_messages(chosen, "chosen", where)
    r = _check_messages(rejected, "rejected", where)
    n = 0
    while n < min(len(c), len(r)) - 1 and c[n] == r[n]:
        n += 1
    return c[:n], c[n:], r[n:]


def _warn_dropped(dropped: Counter[str], total: int, what: str, max_length: int) -> None:
    if dropped:
        why = "; ".join(f"{n} {reason}" for reason, n in dropped.most_common())
        warnings.warn(f"dropped {sum(dropped.values())} of {total} {what} examples "
                      f"(max_length={max_length}): {why}", DataWarning, stacklevel=3)


def _nothing_left(records: Sequence[dict[str, Any]], what: str, max_length: int) -> ConfigError:
    first = _where(records[0], 0) if records else "the data"
    return ConfigError(f"no usable {what} example is left after truncation to "
                       f"max_length={max_length} (records from {first.split(' line ')[0]})")


def _iter(records: Iterable[dict[str, Any]]) -> Iterable[tuple[dict[str, Any], str]]:
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise ConfigError(f"record {i}: expected a dict, got {type(rec).__name__}")
        yield rec, _where(rec, i)


def _preference(enc: _Encoder, rec: dict[str, Any], where: str,
                ) -> tuple[list[int], list[int], list[int]] | str:
    """One preference record as ids, or the reason it is dropped."""
    _need(rec, ("chosen", "rejected"), "a preference", where)
    if "prompt" in rec:
        prompt, chosen, rejected = rec["prompt"], rec["chosen"], rec["rejected"]
    else:
        prompt, chosen, rejected = _implicit_prompt(rec["chosen"], rec["rejected"], where)
    p, c = enc.pair(prompt, chosen, where, "prompt", "chosen")
    p2, r = enc.pair(prompt, rejected, where, "prompt", "rejected")
    if p2 != p:
        raise ConfigError(f"{where}: the prompt tokenizes differently before 'chosen' and "
                          f"'rejected' (check the chat template)")
    p, (c, r) = enc.fit(p, [c, r])
    if not p:
        return _EMPTY_PROMPT
    if c == r:
        return "whose chosen and rejected are identical (after truncation)"
    return p, c, r


_EMPTY_PROMPT = "with an empty prompt (no BOS to start from)"


# ---- per-stage examples ------------------------------------------------------------------------
def sft_examples(records: Sequence[dict[str, Any]], tok: Tokenizer, max_length: int,
                 ) -> list[tuple[list[int], list[int]]]:
    """``(prompt_ids, response_ids)`` from ``{"prompt", "completion"}``, ``{"messages"}`` (the
    last, assistant message is the response) or ``{"text"}`` (all but the first token is the
    response)."""
    enc, out, dropped = _Encoder(tok, max_length), [], Counter[str]()
    for rec, where in _iter(records):
        if "messages" in rec:
            p, r = enc.pair(*_split_messages(rec["messages"], where), where, "messages", "messages")
        elif "text" in rec and "prompt" not in rec:
            if not isinstance(rec["text"], str):
                raise ConfigError(f"{where}: 'text' must be a string, got {_short(rec['text'])}")
            ids = enc.response_ids(rec["text"], where)
            if tok.bos_id is not None and ids[:1] != [tok.bos_id]:
                ids = [tok.bos_id, *ids]
            p, r = ids[:1], ids[1:]
        else:
            if "prompt" not in rec and "completion" not in rec:
                raise ConfigError(f"{where}: an SFT record needs 'prompt' and 'completion', "
                                  f"'messages' or 'text' (it has {', '.join(rec) or 'no keys'})")
            _need(rec, ("prompt", "completion"), "an SFT", where)
            p, r = enc.pair(rec["prompt"], rec["completion"], where, "prompt", "completion")
        p, (r,) = enc.fit(p, [r])
        if not p or not r:
            dropped[_EMPTY_PROMPT if not p else "with an empty response"] += 1
            continue
        out.append((p, r))
    _warn_dropped(dropped, len(records), "SFT", max_length)
    if not out:
        raise _nothing_left(records, "SFT", max_length)
    return out


def preference_examples(records: Sequence[dict[str, Any]], tok: Tokenizer, max_length: int,
                        ) -> list[tuple[list[int], list[int], list[int]]]:
    """``(prompt_ids, chosen_ids, rejected_ids)`` from ``{"prompt", "chosen", "rejected"}``
    (or, with an implicit prompt, ``{"chosen", "rejected"}`` sharing their start)."""
    enc, out, dropped = _Encoder(tok, max_length), [], Counter[str]()
    for rec, where in _iter(records):
        one = _preference(enc, rec, where)
        if isinstance(one, str):
            dropped[one] += 1
        else:
            out.append(one)
    _warn_dropped(dropped, len(records), "preference", max_length)
    if not out:
        raise _nothing_left(records, "preference", max_length)
    return out


def unpaired_examples(records: Sequence[dict[str, Any]], tok: Tokenizer, max_length: int,
                      ) -> list[tuple[list[int], list[int], bool]]:
    """``(prompt_ids, completion_ids, desirable)`` from ``{"prompt", "completion", "label"}``;
    a preference record ``{"prompt", "chosen", "rejected"}`` gives two examples (chosen as
    desirable, rejected as undesirable), as TRL's ``unpair_preference_dataset`` does."""
    enc, out, dropped = _Encoder(tok, max_length), [], Counter[str]()
    total = 0
    for rec, where in _iter(records):
        if "chosen" in rec or "rejected" in rec:
            total += 2
            one = _preference(enc, rec, where)
            if isinstance(one, str):
                dropped[one] += 2
            else:
                out += [(one[0], one[1], True), (one[0], one[2], False)]
            continue
        total += 1
        _need(rec, ("prompt", "completion", "label"), "an unpaired (KTO)", where)
        label = rec["label"]
        if not isinstance(label, bool):
            raise ConfigError(f"{where}: 'label' must be true or false, got {_short(label)}")
        p, c = enc.pair(rec["prompt"], rec["completion"], where, "prompt", "completion")
        p, (c,) = enc.fit(p, [c])
        if not p:
            dropped[_EMPTY_PROMPT] += 1
            continue
        out.append((p, c, label))
    _warn_dropped(dropped, total, "unpaired", max_length)
    if not out:
        raise _nothing_left(records, "unpaired", max_length)
    return out


def prompt_examples(records: Sequence[dict[str, Any]], tok: Tokenizer, max_length: int,
                    ) -> list[list[int]]:
    """Prompt ids (for PPO's sampling) from ``{"prompt"}``, or from ``{"messages"}`` without a
    final assistant message; cut from the left to ``max_length`` tokens (pass the budget left
    after generation)."""
    enc, out, dropped = _Encoder(tok, max_length), [], Counter[str]()
    for rec, where in _iter(records):
        if "prompt" in rec:
            p = enc.prompt_only(rec["prompt"], where, "prompt")
        elif "messages" in rec:
            msgs = _check_messages(rec["messages"], "messages", where)
            if msgs[-1].get("role") == "assistant":
                msgs = msgs[:-1]
            if not msgs:
                raise ConfigError(f"{where}: 'messages' holds no prompt (only an assistant "
                                  f"message)")
            p = enc.prompt_only(msgs, where, "messages")
        else:
            raise ConfigError(f"{where}: a prompt record needs 'prompt' (or 'messages'); it has "
                              f"{', '.join(rec) or 'no keys'}")
        if not p:
            dropped[_EMPTY_PROMPT] += 1
            continue
        if len(p) > max_length:
            bos = tok.bos_id
            head = p[:1] if bos is not None and p[:1] == [bos] else []
            p = head + p[len(p) - (max_length - len(head)):]
        out.append(p)
    _warn_dropped(dropped, len(records), "prompt", max_length)
    if not out:
        raise _nothing_left(records, "prompt", max_length)
    return out
