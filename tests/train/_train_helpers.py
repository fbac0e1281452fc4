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
