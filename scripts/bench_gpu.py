"""bf16 DPO throughput and model FLOPs utilisation (MFU) of our trainer itself on one GPU.

    .venv/bin/python scripts/bench_gpu.py [--pairs 16] [--prompt 256] [--response 256]

What runs is the trainer a user runs, ``alignment_train.dpo.train`` (the same code path as
``alignment-train dpo --model DIR --set device=cuda``), not a separate loop: fp32 master
weights, bf16 autocast, AdamW, gradient clipping, reference log-probs precomputed before
training (under the same autocast), the selective log-softmax, metrics logged every step.
Model: a GPT-2-small-shaped ``transformers.GPT2LMHeadModel`` (12 layers, 12 heads, width 768,
vocab 50304, 1024 positions, about 124M parameters), random init, saved to a temp folder with
the byte-level tokenizer of bench_train.py; pairs of random token ids (--prompt tokens of
prompt, --response tokens per response, EOS included), so each step is one policy forward
and backward over 2 * pairs sequences of prompt + response tokens.
ms per step: median of the trainer's own ``ms_per_step`` over the steps after --warmup.
MFU = achieved FLOPs / peak dense bf16 FLOPs, counting 6 N + 12 L d T FLOPs per token (N =
non-embedding parameters plus the output layer, T = sequence length; PaLM appendix B). Peak
is looked up from the GPU name (H100/H200: 989 TFLOPs, A100: 312) or given with
--peak-tflops. Target: MFU >= 35 %. Without a CUDA device it says so and exits; ``--smoke``
runs a 1-layer model on the CPU through the same code, to check the script itself.
Not yet run on a GPU by its authors: read the figures it prints, not this docstring.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

import torch

PEAKS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
VOCAB, LAYERS, WIDTH, HEADS, POSITIONS = 50304, 12, 768, 12, 1024


def make_model(path: Path, smoke: bool = False) -> int:
    """Save the GPT-2-small-shaped model and a tokenizer; return its FLOP-counting N."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_train import make_tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel

    make_tokenizer(path)
    torch.manual_seed(0)
    shape = (1, 2, 64, 128, 512) if smoke else (LAYERS, HEADS, WIDTH, POSITIONS, VOCAB)
    cfg = GPT2Config(n_layer=shape[0], n_head=shape[1], n_embd=shape[2], n_positions=shape[3],
                     vocab_size=shape[4], bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg)
    model.save_pretrained(path)
    total = sum(p.numel() for p in model.parameters())
    return total - model.transformer.wpe.weight.numel()  # tied wte counted once, as the output layer


def make_pairs(n: int, prompt: int, response: int) -> list[tuple[list[int], list[int], list[int]]]:
    g = torch.Generator().manual_seed(0)

    def ids(k: int) -> list[int]:
        return torch.randint(1, 260, (k,), generator=g).tolist()

    return [(ids(prompt), [*ids(response - 1), 0], [*ids(response - 1), 0]) for _ in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=16, help="preference pairs per step")
    ap.add_argument("--prompt", type=int, default=256, help="prompt tokens")
    ap.add_argument("--response", type=int, default=256, help="tokens per response (EOS included)")
    ap.add_argument("--steps", type=int, default=30, help="training steps in all")
    ap.add_argument("--warmup", type=int, default=5, help="first steps not timed")
    ap.add_argument("--peak-tflops", type=float, help="peak dense bf16 TFLOPs of this GPU")
    ap.add_argument("--smoke", action="store_true",
                    help="a 1-layer model on the CPU, to check that the script runs (no MFU)")
    args = ap.parse_args()
    if args.smoke:
        args.prompt, args.response, args.steps, args.warmup = 16, 16, 6, 2
    elif not torch.cuda.is_available():
        print("bench_gpu: no CUDA device found; this benchmark needs an NVIDIA GPU "
              "(run scripts/bench_train.py for the CPU comparison with TRL).")
        return 1
    if args.steps <= args.warmup:
        print("bench_gpu: --steps must be larger than --warmup")
        return 2
    name = "cpu (smoke run)" if args.smoke else torch.cuda.get_device_name()
    peak = (args.peak_tflops * 1e12 if args.peak_tflops
            else next((v for k, v in PEAKS.items() if k in name), None))
    if peak is None and not args.smoke:
        print(f"bench_gpu: unknown peak FLOPs for {name!r}; pass --peak-tflops")
        return 2
    from alignment_train import dpo

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n_flop = make_model(root / "model", args.smoke)
        data = make_pairs(max(64, 4 * args.pairs), args.prompt, args.response)
        cfg = dpo.DPOConfig(model=str(root / "model"), init_from="", out_dir=str(root / "out"),
                            device="cpu" if args.smoke else "cuda", bf16=True,
                            steps=args.steps, batch_size=args.pairs,
                            lr=1e-5, warmup=0, beta=0.1, log_every=1, ckpt_every=10**9,
                            eval_prompts=8, threads=0)
        dpo.train(cfg, data=data)
        rows = [json.loads(x) for x in (root / "out" / "metrics.jsonl").read_text().splitlines()]
        rows = [r for r in rows if "loss" in r]
    ms = statistics.median(r["ms_per_step"] for r in rows[args.warmup :])
    tokens = statistics.fmean(r["tokens"] for r in rows)  # prompt + response tokens, both rows
    seq = args.prompt + args.response
    layers, width = (1, 64) if args.smoke else (LAYERS, WIDTH)
    flops_per_token = 6 * n_flop + 12 * layers * width * seq
    report = {
        "gpu": name, "trainer": "alignment_train.dpo.train", "parameters_for_flops": n_flop,
        "pairs_per_step": args.pairs, "seq": seq, "first_step_loss": rows[0]["loss"],
        "ln2": math.log(2), "ms_per_step": round(ms, 2), "tokens_per_s": round(tokens / ms * 1000),
        "mfu": round(flops_per_token * tokens / (ms / 1000) / peak, 4) if peak else None,
        "max_memory_gib": (None if args.smoke
                           else round(torch.cuda.max_memory_allocated() / 2**30, 2)),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
