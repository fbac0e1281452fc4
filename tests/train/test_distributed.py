"""Under torchrun (2 CPU processes, gloo) training equals 1 process on the same global batch:
DDP on the tiny GPT (losses, gradients, parameters), and rm, ppo, dpo, kto on an untied
Hugging Face model saved in bf16 (fp32 master weights); PPO's per-process sampling streams
resume bit-exactly. One launch runs every job (conftest.torchrun_out)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from _train_helpers import ddp_batch_grads, ddp_settings, hf_jobs, run_job  # noqa: E402
from alignment_train import dpo  # noqa: E402
from alignment_train.engine import Run, load_model  # noqa: E402

pytestmark = pytest.mark.slow


def losses(path: Path) -> list[float]:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def same_params(a_dir: Path, b_dir: Path, rtol: float = 1e-4, atol: float = 3e-5) -> None:
    a, b = load_model(a_dir)[0].state_dict(), load_model(b_dir)[0].state_dict()
    assert set(a) == set(b)
    for k in a:  # Adam turns float-rounding noise of ~0 gradients into up to ~1e-5 moves
        torch.testing.assert_close(a[k], b[k], rtol=rtol, atol=atol, msg=k)


def test_ddp_two_processes_match_one(torchrun_out: Path, dpo_single: Path, sft_dir: str,
                                     tmp_path: Path) -> None:
    assert losses(torchrun_out / "ddp" / "metrics.jsonl") == pytest.approx(
        losses(dpo_single / "metrics.jsonl"), rel=1e-5)
    same_params(torchrun_out / "ddp", dpo_single)
    run = Run(dpo.DPOConfig(**ddp_settings(sft_dir), out_dir=str(tmp_path / "g1")), "grads")
    one = ddp_batch_grads(sft_dir, run)
    ddp = torch.load(torchrun_out / "ddp_grads.pt")
    assert set(one) == set(ddp)
    for k in one:
        torch.testing.assert_close(ddp[k], one[k], rtol=1e-4, atol=1e-7)
    assert any(float(g.abs().max()) > 1e-4 for g in one.values())


def test_ddp_ppo_resume_is_bit_exact(torchrun_out: Path) -> None:
    """Each process samples from its own stream; a resumed run restores every process's."""
    a = load_model(torchrun_out / "ppo")[0].state_dict()
    b = load_model(torchrun_out / "ppo_resumed")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda p: [{k: v for k, v in json.loads(x).items() if k != "ms_per_step"}  # noqa: E731
                       for x in (p / "metrics.jsonl").read_text().splitlines() if "summary" not in x]
    assert strip(torchrun_out / "ppo") == strip(torchrun_out / "ppo_resumed")


def test_collectives_on_two_processes(torchrun_out: Path) -> None:
    """all_gather_cat (KTO's z0) and global_masked_moments (PPO's whitening) equal the
    single-process answer on both processes' data together."""
    from _train_helpers import collective_inputs

    got = torch.load(torchrun_out / "collectives.pt")
    (r0, x0, m0), (r1, x1, m1) = collective_inputs(0), collective_inputs(1)
    torch.testing.assert_close(got["cat"], torch.cat([r0, r1]))
    x, m = torch.cat([x0, x1]), torch.cat([m0, m1])
    mean = (x * m).sum() / m.sum()
    var = ((x - mean) ** 2 * m).sum() / m.sum()
    torch.testing.assert_close(got["moments"][0], mean)
    torch.testing.assert_close(got["moments"][1], var)
    alone = (x0 * m0).sum() / m0.sum()  # what a per-process mean would have given
    assert abs(float(alone - mean)) > 1e-3


def test_ppo_under_fsdp2_finishes(torchrun_out: Path) -> None:
    """Generation under FSDP2 (each forward a collective) agrees on when to stop."""
    s = json.loads((torchrun_out / "ppo_fsdp" / "summary.json").read_text())
    assert s["after"]["kl"] > 0


@pytest.mark.parametrize("name", ["hf_rm", "hf_ppo", "hf_dpo", "hf_kto", "hf_dpo_fsdp",
                                  "hf_ppo_fsdp"])
def test_untied_bf16_model_two_processes_match_one(torchrun_out: Path, hf_chain: dict[str, str],
                                                   tmp_path: Path, name: str) -> None:
    from safetensors import safe_open

    run_job(str(tmp_path), name, hf_jobs(hf_chain)[name])
    two, one = torchrun_out / name, tmp_path / name
    assert losses(two / "metrics.jsonl") == pytest.approx(losses(one / "metrics.jsonl"), rel=1e-4)
    same_params(two, one)
    with safe_open(str(two / "model.safetensors"), "pt") as f:  # trained in fp32 master weights
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float32}
    base = load_model(hf_chain["sft"])[0].state_dict()
    model = load_model(two)[0]
    trained = getattr(model, "trunk", model).state_dict()  # a reward model's trunk
    assert set(trained) == set(base)
    assert any(not torch.equal(base[k], trained[k]) for k in base)  # it trained
