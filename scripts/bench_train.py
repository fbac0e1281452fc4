"""DPO throughput: our trainer vs TRL's DPOTrainer at its best comparable settings.

    .venv/bin/python scripts/bench_train.py [--runs 5]

Workload: GPT-2-shaped model from transformers.GPT2Config(n_layer=2, n_head=4, n_embd=128,
n_positions=256), random init (seed 0), fp32 on CPU; a byte-level BPE tokenizer of 260 tokens
trained here with `tokenizers`; 256 synthetic pairs (prompts 31-51 tokens, chosen and rejected
28-62, EOS included); batch 8, sigmoid loss, beta 0.1, lr 1e-4, gradient clipping at 1, 32
steps, 2 torch threads (--threads), both trainers in this one process on the same model folder
and data.
Tokens per step = prompt+chosen plus prompt+rejected tokens the policy reads.

What makes it fair: both trainers compute the reference log-probs once before training
(ours always does; TRL with `precompute_ref_log_probs=True`), so each step is one policy
forward and backward for both; same dtype (fp32), threads, batch, model, data and lengths
(no truncation: TRL `max_length=None`); no evaluation and no checkpoints during the timed
steps (TRL `save_strategy="no"`, no eval dataset; ours `ckpt_every` beyond the run); both log
every step (TRL `logging_steps=1`, ours `log_every=1`). TRL keeps its defaults otherwise
(its fused AdamW, its per-step metrics). Both first-step losses are printed: ln 2, since
policy = reference at step 1.
Timing: the first 4 steps are not timed; the trainers run --runs times each, alternating;
a clock around each optimizer step (ours: around `Run.step`, which includes building the
batch; TRL: its `on_step_begin`/`on_step_end` callbacks, which leave out its data loading
and logging), wall time and process CPU time; per run the median over steps 5-32, then the
median and the best run. `cpu_time_ratio` compares CPU time per step, which other jobs on
a shared machine disturb far less than wall time. TRL (pip install
--group bench -c constraints.txt, which pins trl 1.16.0) is optional: without it only our figures are
printed. A benchmark, not a test: absolute times depend on the machine and on its other load
(the ratio much less); `uptime` is printed with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

SKIP, STEPS, BATCH = 4, 32, 8


def make_tokenizer(path: Path) -> object:
    """Byte-level BPE with 260 tokens (256 bytes + 3 merges + <|endoftext|>), trained offline."""
    import tokenizers
    from tokenizers import decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    rng = random.Random(0)
    corpus = [" ".join(rng.choice(["the", "a", "good", "bad", "answer", "is", "to"])
                       for _ in range(50)) for _ in range(200)]
    trainer = trainers.BpeTrainer(vocab_size=260, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")
    fast.save_pretrained(path)
    return fast


def make_text(tok: object, n: int, rng: random.Random) -> str:
    """A random string that tokenizes to exactly n tokens."""
    chars = "abcdefghijklmnopqrstuvwxyz,.;"
    text = ""
    while len(tok(text)["input_ids"]) < n:  # type: ignore[operator]
        text += rng.choice(chars)
    while len(tok(text)["input_ids"]) > n:  # type: ignore[operator]
        text = text[:-1]
    return text


def make_pairs(tok: object) -> tuple[list[dict[str, str]], list[tuple[list[int], ...]]]:
    """256 pairs as text (for TRL) and as the exact token ids TRL derives (for ours)."""
    rng = random.Random(0)
    text, ids = [], []
    eos = tok.eos_token_id  # type: ignore[attr-defined]
    for _ in range(256):
        p = make_text(tok, rng.randint(31, 51), rng)
        c = make_text(tok, rng.randint(27, 61), rng)  # + EOS = 28-62 tokens
        r = make_text(tok, rng.randint(27, 61), rng)
        text.append({"prompt": p, "chosen": c, "rejected": r})
        p_ids = tok(p)["input_ids"]  # type: ignore[operator]
        full_c = tok(p + c)["input_ids"]  # type: ignore[operator]
        full_r = tok(p + r)["input_ids"]  # type: ignore[operator]
        n = min(_common(p_ids, full_c), _common(p_ids, full_r))  # TRL's prompt/completion split
        ids.append((full_c[:n], [*full_c[n:], eos], [*full_r[n:], eos]))
    return text, ids


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def make_model(path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_head=4, n_embd=128, n_positions=256, vocab_size=260,
                     bos_token_id=0, eos_token_id=0)  # <|endoftext|> is id 0 in our BPE
    GPT2LMHeadModel(cfg).save_pretrained(path)


def run_ours(model_dir: Path, ids: list[tuple[list[int], ...]], out: Path,
             threads: int) -> dict[str, float]:
    from alignment_train import dpo, engine

    wall: list[float] = []
    cpu: list[float] = []
    step = engine.Run.step

    def timed(self: engine.Run, *a: object, **k: object) -> dict[str, float]:
        t, c = time.perf_counter(), time.process_time()
        out = step(self, *a, **k)  # type: ignore[arg-type]
        wall.append(1000 * (time.perf_counter() - t))
        cpu.append(1000 * (time.process_time() - c))
        return out

    cfg = dpo.DPOConfig(model=str(model_dir), init_from="", out_dir=str(out), steps=STEPS,
                        batch_size=BATCH, beta=0.1, lr=1e-4, warmup=0, log_every=1,
                        ckpt_every=10**9, threads=threads, eval_prompts=4, grad_clip=1.0)
    engine.Run.step = timed  # type: ignore[method-assign]  # a clock around each step only
    try:
        dpo.train(cfg, data=ids)  # type: ignore[arg-type]
    finally:
        engine.Run.step = step  # type: ignore[method-assign]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss" in r]
    return {"ms": statistics.median(wall[SKIP:]), "cpu_ms": statistics.median(cpu[SKIP:]),
            "first_loss": rows[0]["loss"]}


def run_trl(model_dir: Path, text: list[dict[str, str]], out: Path) -> dict[str, float]:
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    times: list[float] = []
    cpu: list[float] = []

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *a: object, **k: object) -> None:
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_step_end(self, *a: object, **k: object) -> None:
            times.append(1000 * (time.perf_counter() - self.t))
            cpu.append(1000 * (time.process_time() - self.c))

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    args = DPOConfig(output_dir=str(out), per_device_train_batch_size=BATCH, learning_rate=1e-4,
                     max_steps=STEPS, beta=0.1, loss_type=["sigmoid"], logging_steps=1,
                     report_to="none", save_strategy="no", use_cpu=True, seed=0,
                     dataloader_num_workers=0, max_length=None, disable_tqdm=True,
                     precompute_ref_log_probs=True)
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=args,
                         train_dataset=datasets.Dataset.from_list(text), processing_class=tok,
                         callbacks=[Clock()])
    trainer.train()
    first = next(h["loss"] for h in trainer.state.log_history if "loss" in h)
    return {"ms": statistics.median(times[SKIP:]), "cpu_ms": statistics.median(cpu[SKIP:]),
            "first_loss": first}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per trainer (median and best)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for both trainers")
    args = ap.parse_args()
    try:
        import transformers  # noqa: F401
    except ImportError:
        print("bench_train: needs transformers and tokenizers: pip install 'alignment-train[hf]'")
        return 2
    have_trl = importlib.util.find_spec("trl") is not None
    if not have_trl:
        print("TRL not installed: timing our trainer only (pip install --group bench)")
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tok = make_tokenizer(root / "model")
        make_model(root / "model")
        text, ids = make_pairs(tok)
        tokens = BATCH * statistics.fmean(2 * len(p) + len(c) + len(r) for p, c, r in ids)
        results: dict[str, list[dict[str, float]]] = {"ours": [], "trl": []}
        load_before = os.getloadavg()
        with contextlib.redirect_stdout(sys.stderr):  # TRL prints its logs; keep stdout JSON
            for k in range(args.runs):
                results["ours"].append(run_ours(root / "model", ids, root / f"ours{k}",
                                                args.threads))
                if have_trl:
                    results["trl"].append(run_trl(root / "model", text, root / f"trl{k}"))
                print("bench_train: run", k + 1, json.dumps(  # progress, on stderr
                    {n: r[-1] for n, r in results.items() if r}), file=sys.stderr, flush=True)
    report: dict[str, object] = {
        "tokens_per_step": round(tokens, 1), "ln2": math.log(2), "runs": args.runs,
        "cpus": os.cpu_count(), "threads": args.threads,
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()}}
    for name, runs in results.items():
        if runs:
            ms = statistics.median(r["ms"] for r in runs)
            best = min(r["ms"] for r in runs)
            report[name] = {"ms_per_step": round(ms, 2), "tokens_per_s": round(tokens / ms * 1000),
                            "cpu_ms_per_step": round(statistics.median(r["cpu_ms"] for r in runs), 2),
                            "best_ms_per_step": round(best, 2),
                            "best_tokens_per_s": round(tokens / best * 1000),
                            "first_step_loss": runs[0]["first_loss"],
                            "ms_per_step_each_run": [round(r["ms"], 2) for r in runs]}
    if have_trl:
        ours, trl = report["ours"], report["trl"]
        report["speedup_median"] = round(trl["ms_per_step"] / ours["ms_per_step"], 2)  # type: ignore[index]
        report["speedup_best"] = round(trl["best_ms_per_step"] / ours["best_ms_per_step"], 2)  # type: ignore[index]
        pairs = [t["ms"] / o["ms"] for o, t in zip(results["ours"], results["trl"], strict=True)]
        report["speedup_per_run_pair"] = [round(x, 2) for x in pairs]  # run k of each, back to back
        report["speedup_median_of_pairs"] = round(statistics.median(pairs), 2)
        report["cpu_time_ratio"] = round(trl["cpu_ms_per_step"] / ours["cpu_ms_per_step"], 2)  # type: ignore[index]
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
