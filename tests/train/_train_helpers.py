"""Helpers shared by the training tests."""

from __future__ import annotations


def tiny(**kw: object) -> dict[str, object]:
    """Settings for seconds-long runs."""
    base: dict[str, object] = {"eval_prompts": 16, "log_every": 1, "threads": 1}
    base.update(kw)
    return base


def ddp_settings(sft_dir: str) -> dict[str, object]:
    """A DPO run small enough for two CPU processes in a few seconds."""
    return tiny(init_from=sft_dir, steps=3, batch_size=8, threads=1, log_every=1, n_pairs=64)


def ddp_batch_grads(sft_dir: str, run: object) -> dict[str, object]:
    """Gradients of the mean DPO loss over one fixed global batch of 8 pairs, each process
    computing its shard through the (possibly DDP-wrapped) model."""
    import torch
    from alignment_train.common import (
        collate,
        encode_prompt,
        encode_response,
        sequence_logps,
        token_logps,
    )
    from alignment_train.dpo import dpo_loss
    from alignment_train.engine import load_model
    from alignment_train.task import Task

    model, tok = load_model(sft_dir)
    policy = run.wrap(model)  # type: ignore[attr-defined]
    pairs = Task().preference_data(8, seed=3)
    idx = run.shard(torch.arange(8))  # type: ignore[attr-defined]
    rows = [pairs[i] for i in idx.tolist()]
    P = [encode_prompt(tok, x) for x, _, _ in rows]
    resp = [encode_response(tok, c) for _, c, _ in rows] + [encode_response(tok, r) for _, _, r in rows]
    ids, mask = collate(P * 2, resp, tok.pad_id)
    logps = sequence_logps(token_logps(policy(ids)[0], ids), mask)
    b = len(rows)
    offset = torch.linspace(-1, 1, 16).view(2, 8)[:, idx]  # per global pair: a non-trivial ref
    ref_c, ref_r = logps[:b].detach() + offset[0], logps[b:].detach() + offset[1]
    dpo_loss(logps[:b], logps[b:], ref_c, ref_r, beta=0.5).mean().backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


def hf_settings(**kw: object) -> dict[str, object]:
    """Seconds-long settings for the tiny Hugging Face model of conftest.untied_hf_dir."""
    base: dict[str, object] = {"eval_prompts": 8, "log_every": 1, "threads": 1, "steps": 2,
                               "batch_size": 4, "warmup": 1}
    base.update(kw)
    return base


def stage(name: str) -> tuple[type, object]:
    """(config class, train function) of a stage."""
    from alignment_train import dpo, kto, orpo, ppo, reward_model, sft

    return {"sft": (sft.SFTConfig, sft.train), "rm": (reward_model.RMConfig, reward_model.train),
            "ppo": (ppo.PPOConfig, ppo.train), "dpo": (dpo.DPOConfig, dpo.train),
            "kto": (kto.KTOConfig, kto.train), "orpo": (orpo.ORPOConfig, orpo.train)}[name]


def hf_jobs(chain: dict[str, str]) -> dict[str, tuple[str, dict[str, object]]]:
    """The runs that 2 processes (torchrun) and 1 process must agree on, on the untied bf16
    model: rm, ppo, dpo, kto under DDP, and dpo under FSDP2. PPO takes one iteration of two
    full-batch epochs on fixed responses (:func:`fixed_responses`): sampling differs per
    process by design, the update must not."""
    return {
        "hf_rm": ("rm", hf_settings(init_from=chain["sft"], n_pairs=32, heldout_pairs=8, best_of=2)),
        "hf_dpo": ("dpo", hf_settings(init_from=chain["sft"], n_pairs=32)),
        "hf_kto": ("kto", hf_settings(init_from=chain["sft"], n_pairs=16)),
        "hf_ppo": ("ppo", hf_settings(init_from=chain["sft"], reward_from=chain["rm"], steps=1,
                                      ppo_epochs=2, minibatches=1, n_prompts=32)),
        "hf_dpo_fsdp": ("dpo", hf_settings(init_from=chain["sft"], n_pairs=32, fsdp=True)),
        "hf_ppo_fsdp": ("ppo", hf_settings(init_from=chain["sft"], reward_from=chain["rm"],
                                           steps=1, ppo_epochs=2, minibatches=1, n_prompts=32,
                                           fsdp=True)),
    }


def collective_inputs(rank: int) -> tuple[object, object, object]:
    """Per-process inputs of the collectives test: rows of different counts, and a mask."""
    import torch

    g = torch.Generator().manual_seed(rank)
    rows = torch.randn(3 + rank, 2, generator=g)  # 3 rows on rank 0, 4 on rank 1
    x = torch.randn(4, 5, generator=g) * (1 + rank) + rank
    mask = (torch.rand(4, 5, generator=g) > 0.3).float()
    return rows, x, mask


def fixed_responses(model: object, prompts: list[list[int]], max_new_tokens: int, eos_id: int,
                    pad_id: int, *args: object, **kw: object) -> list[list[int]]:
    """A stand-in for ``generate``: the first three prompt letters, then EOS (same on any
    number of processes)."""
    return [[*p[1:4], eos_id] for p in prompts]


def run_job(out: str, name: str, job: tuple[str, dict[str, object]]) -> None:
    import alignment_train.ppo

    kind, kw = job
    cls, train = stage(kind)
    real = alignment_train.ppo.generate
    if kind == "ppo":
        alignment_train.ppo.generate = fixed_responses  # type: ignore[assignment]
    try:
        train(cls(**kw, out_dir=f"{out}/{name}"))  # type: ignore[operator]
    finally:
        alignment_train.ppo.generate = real
