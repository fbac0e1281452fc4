"""bf16 DPO throughput and model FLOPs utilisation (MFU) of our trainer on one GPU.

    .venv/bin/python scripts/bench_gpu.py [--pairs 16] [--seq 512] [--no-compile]

Model: our GPT (alignment_train.model.GPT) at GPT-2-small size, 12 layers, 12 heads, width
768, vocab 50304, 1024 positions (~124M parameters), random init; AdamW (fused), bf16
autocast, reference log-probs precomputed (as our DPO stage does), so one step = one policy
forward + backward over 2 * pairs sequences of --seq tokens.
MFU = achieved FLOPs / peak bf16 FLOPs, counting 6 N + 12 L d T FLOPs per token (N = non-
embedding parameters plus the output layer, PaLM appendix B). Peak is looked up from the
GPU name (H100/H200: 989 TFLOPs dense bf16, A100: 312) or given with --peak-tflops.
Target: MFU >= 35 %. Exits with a message when no CUDA device is present.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

PEAKS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=16, help="preference pairs per step")
    ap.add_argument("--seq", type=int, default=512, help="tokens per sequence (prompt + response)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps (after 5 warm-up steps)")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--peak-tflops", type=float, help="peak dense bf16 TFLOPs of this GPU")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device found; this benchmark needs an NVIDIA GPU "
              "(run scripts/bench_train.py for the CPU comparison with TRL).")
        return 1
    from alignment_train.common import sequence_logps, token_logps
    from alignment_train.dpo import dpo_loss
    from alignment_train.model import GPT, GPTConfig

    name = torch.cuda.get_device_name()
    peak = (args.peak_tflops * 1e12 if args.peak_tflops
            else next((v for k, v in PEAKS.items() if k in name), None))
    if peak is None:
        print(f"bench_gpu: unknown peak FLOPs for {name!r}; pass --peak-tflops")
        return 2
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    cfg = GPTConfig(vocab_size=50304, block_size=1024, n_layer=12, n_head=12, n_embd=768)
    model = GPT(cfg).cuda()
    n_params = sum(p.numel() for p in model.parameters())
    n_flop_params = n_params - model.wpe.weight.numel()  # the tied wte is the output layer
    step_model = model if args.no_compile else torch.compile(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)

    B, T = 2 * args.pairs, args.seq
    ids = torch.randint(0, cfg.vocab_size, (B, T), device="cuda")
    mask = torch.zeros(B, T, device="cuda")
    mask[:, T // 2 :] = 1.0  # the second half of each sequence is the response
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        ref = sequence_logps(token_logps(step_model(ids)[0], ids), mask)  # precomputed once

    def step() -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits, _ = step_model(ids)  # (B, T, V)
        logps = sequence_logps(token_logps(logits, ids), mask)  # (B,)
        loss = dpo_loss(logps[: args.pairs], logps[args.pairs :], ref[: args.pairs],
                        ref[args.pairs :], beta=0.1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    first = float(step())
    for _ in range(4):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / args.steps
    tokens = B * T
    flops_per_token = 6 * n_flop_params + 12 * cfg.n_layer * cfg.n_embd * T
    report = {
        "gpu": name, "parameters": n_params, "pairs_per_step": args.pairs, "seq": T,
        "compiled": not args.no_compile, "first_step_loss": first,
        "ms_per_step": round(1000 * dt, 2), "tokens_per_s": round(tokens / dt),
        "mfu": round(flops_per_token * tokens / dt / peak, 4),
        "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
