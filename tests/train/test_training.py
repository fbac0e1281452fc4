"""End-to-end training on tiny budgets: learning, resume, NaN stops, error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from _train_helpers import tiny  # noqa: E402
from alignment_train import cli, dpo, kto, orpo, ppo, reward_model  # noqa: E402
from alignment_train.engine import TrainingStopped, load_model  # noqa: E402


def params(path: Path) -> dict[str, torch.Tensor]:
    return dict(load_model(path)[0].state_dict())


@pytest.mark.slow
def test_sft_learns_the_task(sft_dir: str) -> None:
    s = json.loads((Path(sft_dir) / "summary.json").read_text())
    assert s["after"]["true_reward"] > s["before"]["true_reward"] + 0.2  # random init ≈ 0.1


@pytest.mark.slow
def test_dpo_improves_true_reward(sft_dir: str, tmp_path: Path) -> None:
    s = dpo.train(dpo.DPOConfig(**tiny(out_dir=str(tmp_path), init_from=sft_dir, steps=60,
                                       lr=1e-3, eval_prompts=128, log_every=10)))
    assert s["after"]["true_reward"] > s["before"]["true_reward"] + 0.03
    assert s["before"]["kl"] == 0.0 and s["after"]["kl"] > 0.0
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    first = lines[0]
    assert {"loss", "rewards/margin", "rewards/accuracy", "rewards/chosen"} <= set(first)


@pytest.mark.slow
@pytest.mark.parametrize("loss_type", ["robust", "hinge", "ipo"])
def test_dpo_variants_run(sft_dir: str, tmp_path: Path, loss_type: str) -> None:
    s = dpo.train(dpo.DPOConfig(**tiny(out_dir=str(tmp_path), init_from=sft_dir, steps=2,
                                       loss_type=loss_type, batch_size=8)))
    assert s["after"]["kl"] != 0.0


@pytest.mark.slow
def test_rm_ppo_kto_orpo_run_and_log(sft_dir: str, tmp_path: Path) -> None:
    rm = reward_model.train(reward_model.RMConfig(**tiny(
        out_dir=str(tmp_path / "rm"), init_from=sft_dir, steps=20, batch_size=32, best_of=2)))
    assert 0.0 <= rm["heldout_accuracy"] <= 1.0 and "best_of_2_true_reward" in rm
    p = ppo.train(ppo.PPOConfig(**tiny(out_dir=str(tmp_path / "ppo"), init_from=sft_dir,
                                       reward_from=str(tmp_path / "rm"), steps=2, batch_size=16)))
    assert p["after"]["kl"] != 0.0
    line = json.loads((tmp_path / "ppo" / "metrics.jsonl").read_text().splitlines()[0])
    assert {"kl", "kl_k3", "clipfrac", "explained_variance", "approx_kl"} <= set(line)
    k = kto.train(kto.KTOConfig(**tiny(out_dir=str(tmp_path / "kto"), init_from=sft_dir, steps=2,
                                       batch_size=8)))
    assert k["after"]["kl"] != 0.0
    o = orpo.train(orpo.ORPOConfig(**tiny(out_dir=str(tmp_path / "orpo"), eval_ref=sft_dir,
                                          steps=2, batch_size=8)))
    assert o["after"]["true_reward"] != o["base_model"]["true_reward"]


@pytest.mark.slow
def test_ppo_on_the_true_reward_improves_it(sft_dir: str, tmp_path: Path) -> None:
    s = ppo.train(ppo.PPOConfig(**tiny(out_dir=str(tmp_path), init_from=sft_dir, reward_from="true",
                                       steps=12, batch_size=32, lr=5e-4, kl_coef=0.02,
                                       eval_prompts=128)))
    assert s["after"]["true_reward"] > s["before"]["true_reward"] + 0.03


@pytest.mark.slow
def test_resume_equals_uninterrupted_run(sft_dir: str, tmp_path: Path) -> None:
    kw = tiny(init_from=sft_dir, steps=5, ckpt_every=2, batch_size=8)
    dpo.train(dpo.DPOConfig(**kw, out_dir=str(tmp_path / "straight")))
    with pytest.raises(TrainingStopped, match="stopped after step 3"):
        dpo.train(dpo.DPOConfig(**kw, out_dir=str(tmp_path / "killed"), stop_after=3))
    assert not (tmp_path / "killed" / "model.pt").exists()
    dpo.train(dpo.DPOConfig(**kw, out_dir=str(tmp_path / "killed")), resume=True)
    a, b = params(tmp_path / "straight"), params(tmp_path / "killed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    read = lambda d: (tmp_path / d / "metrics.jsonl").read_text()  # noqa: E731
    def strip(text: str) -> list[dict[str, float]]:  # metrics lines without the wall-clock time
        rows = [json.loads(x) for x in text.splitlines() if "summary" not in x]
        return [{k: v for k, v in r.items() if k != "ms_per_step"} for r in rows]

    assert strip(read("straight")) == strip(read("killed"))


@pytest.mark.slow
def test_ppo_resume_equals_uninterrupted_run(sft_dir: str, tmp_path: Path) -> None:
    kw = tiny(init_from=sft_dir, reward_from="true", steps=3, ckpt_every=1, batch_size=8)
    ppo.train(ppo.PPOConfig(**kw, out_dir=str(tmp_path / "a")))
    with pytest.raises(TrainingStopped):
        ppo.train(ppo.PPOConfig(**kw, out_dir=str(tmp_path / "b"), stop_after=2))
    ppo.train(ppo.PPOConfig(**kw, out_dir=str(tmp_path / "b")), resume=True)
    a, b = params(tmp_path / "a"), params(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(
    sft_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = dpo.dpo_loss, {"n": 0}

    def flaky(*a: object, **k: object) -> torch.Tensor:
        calls["n"] += 1
        out = real(*a, **k)  # type: ignore[arg-type]
        return out * float("nan") if calls["n"] == 3 else out  # the third step

    monkeypatch.setattr(dpo, "dpo_loss", flaky)
    with pytest.raises(TrainingStopped, match=r"loss became nan at step 3.*step 2\)"):
        dpo.train(dpo.DPOConfig(**tiny(out_dir=str(tmp_path), init_from=sft_dir, steps=6,
                                       ckpt_every=2, batch_size=8)))
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert ckpt["step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["models"]["policy"].values())


def test_cli_config_file_and_list(tmp_path: Path, sft_dir: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'init_from = "{sft_dir}"\nsteps = 1\nbatch_size = 4\neval_prompts = 8\nthreads = 1\n'
                   f'out_dir = "{tmp_path / "out"}"\nbeta = 0.5\n')
    assert cli.main(["dpo", "--config", str(cfg), "--set", "loss_type=hinge"]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["beta"] == 0.5 and s["loss_type"] == "hinge"
    assert cli.main(["ppo", "--list"]) == 0
    out = capsys.readouterr().out
    assert "kl_coef = 0.5" in out and "KL penalty beta per token" in out


# ---- building blocks: the fast paths equal the plain formulas ---------------------------------
def test_selective_log_softmax_equals_log_softmax_gather(monkeypatch: pytest.MonkeyPatch) -> None:
    from alignment_train import common
    from alignment_train.common import selective_log_softmax, token_logps

    torch.manual_seed(0)
    x = torch.randn(3, 9, 50, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 50, (3, 9))
    want = torch.log_softmax(x, -1).gather(-1, labels[..., None]).squeeze(-1)
    torch.testing.assert_close(selective_log_softmax(x, labels), want)
    monkeypatch.setattr(common, "_rows_per_chunk", lambda vocab: 4)  # 27 rows: 7 chunks
    chunked = lambda a: common._SelectiveLogSoftmax.apply(a.view(-1, 50), labels.view(-1))  # noqa: E731
    torch.testing.assert_close(chunked(x).view(3, 9), want)  # the large-vocabulary path
    torch.autograd.gradcheck(chunked, (x,))
    torch.autograd.gradcheck(lambda a: selective_log_softmax(a, labels), (x,))
    ids = torch.randint(0, 50, (3, 9))
    torch.testing.assert_close(token_logps(x, ids)[:, 1:],
                               torch.log_softmax(x[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0])
    lp = selective_log_softmax(x.detach().to(torch.bfloat16), labels)  # bf16 in, fp32 out
    assert lp.dtype == torch.float32
    torch.testing.assert_close(lp.double(), want.detach(), atol=0.1, rtol=0.05)


def test_token_kl_is_exact_and_never_negative() -> None:
    from alignment_train.common import token_kl

    torch.manual_seed(1)
    a, b = torch.randn(4, 6, 30), torch.randn(4, 6, 30)
    p, lp, lq = a.softmax(-1), a.log_softmax(-1), b.log_softmax(-1)
    torch.testing.assert_close(token_kl(a, b), (p * (lp - lq)).sum(-1))
    assert float(token_kl(a, b).min()) > 0 and float(token_kl(a, a).abs().max()) == 0.0


def test_gpt_kv_cache_decoding_equals_full_forward_and_generate_is_seeded() -> None:
    from alignment_train.common import generate
    from alignment_train.model import GPT, GPTConfig

    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=20)).eval()
    prompts = [[1, 5, 6, 7, 3], [1, 8, 3], [1, 4, 4, 9, 4, 10, 3]]
    L = max(map(len, prompts))
    ids = torch.zeros(3, L, dtype=torch.long)
    att = torch.zeros(3, L, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, L - len(p):], att[i, L - len(p):] = torch.tensor(p), 1
    pos = (att.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        first, cache = m.decode(ids, att, pos)
        second, _ = m.decode(torch.tensor([[11], [12], [13]]),
                             torch.cat([att, torch.ones(3, 1, dtype=torch.long)], 1),
                             pos[:, -1:] + 1, cache)
        for i, p in enumerate(prompts):
            torch.testing.assert_close(first[i], m(torch.tensor([p]))[0][0, -1])
            torch.testing.assert_close(second[i], m(torch.tensor([[*p, 11 + i]]))[0][0, -1])
    out = [generate(m, prompts * 8, 12, 2, 0, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert out[0] == out[1]  # the CPU generator decides everything
    for r in out[0]:  # each response stops at its first EOS, or has all 12 tokens
        assert (r.index(2) == len(r) - 1) if 2 in r else len(r) == 12
    assert len({len(r) for r in out[0]}) > 1


def test_precompute_logps_equals_one_batch() -> None:
    from alignment_train.common import collate, precompute_logps, sequence_logps, token_logps
    from alignment_train.model import GPT, GPTConfig

    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=20)).eval()
    g = torch.Generator().manual_seed(0)
    P = [torch.randint(3, 20, (int(n),), generator=g).tolist() for n in torch.randint(2, 8, (13,), generator=g)]
    R = [torch.randint(3, 20, (int(n),), generator=g).tolist() for n in torch.randint(1, 9, (13,), generator=g)]
    ids, mask = collate(P, R, 0)
    with torch.no_grad():
        want = sequence_logps(token_logps(m(ids)[0], ids), mask)
    got = precompute_logps(m, P, R, 0, False, "cpu", max_tokens=40)  # several small chunks
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_whiten_matches_the_masked_formula() -> None:
    from alignment_train.common import whiten

    torch.manual_seed(2)
    x, mask = torch.randn(5, 7), (torch.rand(5, 7) > 0.3).float()
    on = x[mask.bool()]
    want = (x - on.mean()) / on.var(unbiased=False).add(1e-8).sqrt() * mask
    torch.testing.assert_close(whiten(x, mask), want)


def test_logits_of_the_responses_only_equal_the_full_ones() -> None:
    from alignment_train.common import collate, logits_needed, response_logps, token_logps
    from alignment_train.model import GPT, GPTConfig

    torch.manual_seed(3)
    m = GPT(GPTConfig(vocab_size=20))
    ids, mask = collate([[1, 5, 6, 3], [1, 7, 7, 8, 9, 3]], [[4, 2], [5, 6, 7, 2]], 0)
    k = logits_needed(mask)
    assert k == ids.shape[1] - 4 + 1  # from the token before the first response token (col 4)
    full = m(ids)[0]
    torch.testing.assert_close(m(ids, keep=k)[0], full[:, -k:])
    torch.testing.assert_close(response_logps(m, ids, mask), token_logps(full, ids) * mask)


def test_reward_centring_and_normalisation() -> None:
    from alignment_train.model import GPT, GPTConfig, ScalarModel
    from alignment_train.reward_model import centering_penalty, normalized_scores

    c, r = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert float(centering_penalty(c, r)) == pytest.approx((0.0 + 9.0) / 2)
    rm = ScalarModel(GPT(GPTConfig(vocab_size=20)))
    rm.score_mean.fill_(2.0)
    rm.score_std.fill_(4.0)
    s = torch.tensor([2.0, 10.0, -30.0])
    torch.testing.assert_close(normalized_scores(rm, s), torch.tensor([0.0, 2.0, -8.0]))
    torch.testing.assert_close(normalized_scores(rm, s, clip=5.0), torch.tensor([0.0, 2.0, -5.0]))
    assert set(rm.state_dict()) >= {"score_mean", "score_std"}  # saved with the model
