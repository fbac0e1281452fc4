"""Your data end to end, by command-line flags: JSONL records in TRL's conversational formats,
rendered with the tokenizer's chat template, train SFT -> RM -> PPO / DPO / KTO / ORPO on the
untied Hugging Face model; the exported folders load with ``transformers`` and generate."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from alignment_train import cli  # noqa: E402
from alignment_train.engine import SCALAR_HEAD, load_model  # noqa: E402
from alignment_train.model import ScalarModel  # noqa: E402
from alignment_train.task import LETTERS  # noqa: E402

pytestmark = pytest.mark.slow
COMMON = ["eval_prompts=4", "log_every=1", "threads=1", "warmup=1", "max_length=24",
          "max_new_tokens=6"]


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def write(path: Path, rows: list[dict[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Records where the good answer repeats the prompt's letters (learnable in a few steps)."""
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("data")
    prompts = ["".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 5))) for _ in range(48)]
    off = lambda p: "".join(rng.choice(LETTERS) for _ in p)  # noqa: E731
    sft = [{"messages": user(p) + assistant(p)} for p in prompts]
    pref = [{"prompt": user(p), "chosen": assistant(p), "rejected": assistant(off(p))}
            for p in prompts]
    unpaired = [{"prompt": user(p), "completion": assistant(p if i % 2 else off(p)),
                 "label": bool(i % 2)} for i, p in enumerate(prompts)]
    return {
        "sft": write(root / "sft.jsonl", sft),  # one file: its tail is held out
        "pref": str(Path(write(root / "pref" / "train.jsonl", pref[:40])).parent),
        "unpaired": write(root / "unpaired.jsonl", unpaired),
        "prompts": write(root / "prompts.jsonl", [{"prompt": user(p)} for p in prompts]),
    } | {"_test": write(root / "pref" / "test.jsonl", pref[40:])}


def run(stage: str, model: str, data: str, *sets: str) -> dict[str, Any]:
    """``alignment-train STAGE --model M --data D --set ...``; returns summary.json."""
    out = next(a.split("=", 1)[1] for a in sets if a.startswith("out_dir="))
    assert cli.main([stage, "--model", model, "--data", data, "--set", *COMMON, *sets]) == 0
    return json.loads((Path(out) / "summary.json").read_text())


def test_jsonl_with_a_chat_template_trains_the_whole_chain(
        untied_hf_dir: Path, data: dict[str, str], tmp_path: Path) -> None:
    model = str(untied_hf_dir)
    sft = run("sft", model, data["sft"], "steps=12", "batch_size=8",
              "lr=5e-3", f"out_dir={tmp_path / 'sft'}")
    assert "true_reward" not in sft["after"]  # no true reward on your data
    assert sft["after"]["eval_loss"] < sft["before"]["eval_loss"]  # held-out loss fell
    assert sft["before"]["kl"] == 0.0 and sft["after"]["kl"] > 0.0

    # the export is an ordinary Hugging Face folder: loads, applies the template, generates
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "sft")
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "sft")
    assert tok.chat_template and {p.dtype for p in hf.parameters()} == {torch.float32}
    ids = tok.apply_chat_template(user("abc"), add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)["input_ids"]
    out = hf.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids.shape[1]
    assert tok.decode(ids[0]).endswith("<|assistant|>")

    sft_out = f"init_from={tmp_path / 'sft'}"
    dpo = run("dpo", model, data["pref"], sft_out, "steps=2",
              "batch_size=4", f"out_dir={tmp_path / 'dpo'}")
    first = json.loads((tmp_path / "dpo" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["loss"] == pytest.approx(0.6931471805599453, abs=1e-6)  # policy = reference
    assert {"eval_loss", "eval_rewards/accuracy", "kl", "length"} <= set(dpo["after"])

    rm = run("rm", model, data["pref"], sft_out, "steps=2",
             "batch_size=4", "best_of=2", f"out_dir={tmp_path / 'rm'}")
    assert 0.0 <= rm["heldout_accuracy"] <= 1.0 and "sft_score_std" in rm
    assert (tmp_path / "rm" / SCALAR_HEAD).exists()
    scalar, _ = load_model(tmp_path / "rm")
    assert isinstance(scalar, ScalarModel)
    assert float(scalar.score_mean) == pytest.approx(rm["sft_score_mean"])

    ppo = run("ppo", model, data["prompts"], sft_out,
              f"reward_from={tmp_path / 'rm'}", "steps=2", "batch_size=4", "minibatches=2",
              f"out_dir={tmp_path / 'ppo'}")
    assert ppo["after"]["kl"] >= 0.0 and "length" in ppo["after"]
    line = json.loads((tmp_path / "ppo" / "metrics.jsonl").read_text().splitlines()[0])
    assert "score" in line and "true_reward" not in line

    kto = run("kto", model, data["unpaired"], sft_out, "steps=2",
              "batch_size=4", f"out_dir={tmp_path / 'kto'}")
    assert "eval_loss" in kto["after"]
    orpo = run("orpo", model, data["pref"], "init_from=",
               f"eval_ref={tmp_path / 'sft'}", "steps=2", "batch_size=4",
               f"out_dir={tmp_path / 'orpo'}")
    assert "eval_nll" in orpo["after"]
    for stage in ("dpo", "ppo", "kto", "orpo"):  # each is again a loadable HF folder
        transformers.AutoModelForCausalLM.from_pretrained(tmp_path / stage)
