"""Mutation check: each deliberately wrong formula must fail at least one test.

Copies ``src/alignment_math`` and the unit tests to a temporary directory, applies one
mutation at a time there (the working tree is never touched), runs the tests against the
mutant and reports whether they caught it.  Usage: ``python scripts/mutation_check.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (file, original text, mutated text, what it breaks)
MUTATIONS = [
    (
        "_preference.py",
        "return sigmoid(chosen - rejected)",
        "return sigmoid(rejected - chosen)",
        "BT: flipped sign",
    ),
    (
        "_preference.py",
        "return -log_sigmoid(chosen - rejected - m)",
        "return -log_sigmoid(chosen - rejected + m)",
        "BT: margin sign",
    ),
    (
        "_preference.py",
        "grad = -(sigmoid(-margin) @ diffs) / n + l2 * weights",
        "grad = -(sigmoid(margin) @ diffs) / n + l2 * weights",
        "BT fit: wrong gradient",
    ),
    (
        "_kl.py",
        "np.log(ref) + (r - best) / b",
        "np.log(ref) + (r - best) * b",
        "optimal policy: r*beta",
    ),
    (
        "_kl.py",
        "p_arr * (np.log(p_arr) - np.log(q_arr))",
        "q_arr * (np.log(p_arr) - np.log(q_arr))",
        "KL: wrong weight",
    ),
    (
        "_ppo.py",
        "np.minimum(r * adv, np.clip(r, 1.0 - eps, 1.0 + eps) * adv)",
        "np.maximum(r * adv, np.clip(r, 1.0 - eps, 1.0 + eps) * adv)",
        "PPO: max for min",
    ),
    (
        "_ppo.py",
        "np.clip(r, 1.0 - eps, 1.0 + eps)",
        "np.clip(r, 1.0 - eps, 1.0 + 2 * eps)",
        "PPO: asymmetric clip",
    ),
    (
        "_ppo.py",
        "for t in range(r.shape[-1] - 1, -1, -1):",
        "for t in range(r.shape[-1] - 2, -1, -1):",
        "GAE: off-by-one (last token skipped)",
    ),
    (
        "_ppo.py",
        "running = delta + g * lam_ * running",
        "running = delta + g * running",
        "GAE: lambda dropped",
    ),
    ("_ppo.py", "next_value = v[..., t]", "next_value = r[..., t]", "GAE: bootstraps on reward"),
    (
        "_ppo.py",
        "rewards[..., -1] += s",
        "rewards[..., 0] += s",
        "KL rewards: score on first token",
    ),
    ("_ppo.py", "k3 = np.expm1(log_rho) - log_rho", "k3 = np.expm1(log_rho) + log_rho", "k3: sign"),
    (
        "_dpo.py",
        "return np.asarray(-(1 - eps) * log_sigmoid(b * h) - eps * log_sigmoid(-b * h))",
        "return np.asarray(-(1 - eps) * log_sigmoid(b * h))",
        "cDPO: label-smoothing term missing",
    ),
    (
        "_dpo.py",
        "(-(1 - eps) * log_sigmoid(b * h) + eps * log_sigmoid(-b * h)) / (1 - 2 * eps)",
        "(-(1 - eps) * log_sigmoid(b * h) - eps * log_sigmoid(-b * h)) / (1 - 2 * eps)",
        "robust DPO: flipped sign",
    ),
    (
        "_dpo.py",
        "np.maximum(0.0, 1.0 - b * h)",
        "np.maximum(0.0, 1.0 + b * h)",
        "hinge: flipped sign",
    ),
    ("_dpo.py", "(h - 1.0 / (2.0 * b)) ** 2", "(h - 1.0 / b) ** 2", "IPO: wrong target"),
    (
        "_dpo.py",
        "return np.asarray((pc - pr) - (rc - rr))",
        "return np.asarray((pc - pr) - (rr - rc))",
        "DPO: reference ratio flipped",
    ),
    ("_dpo.py", "return sigmoid(-b * h)", "return sigmoid(b * h)", "DPO gradient weight: sign"),
    (
        "_kto.py",
        "lam_d * sigmoid(-b * (r - z0))",
        "lam_u * sigmoid(-b * (r - z0))",
        "KTO: swapped weights",
    ),
    (
        "_kto.py",
        "lam_u * sigmoid(-b * (z0 - r))",
        "lam_u * sigmoid(-b * (r - z0))",
        "KTO: undesirable sign",
    ),
    (
        "_kto.py",
        "return float(max(0.0, float(np.mean(policy - ref))))",
        "return float(np.mean(policy - ref))",
        "KTO z0: no clamp",
    ),
    (
        "_orpo.py",
        "return np.asarray(ell - log1mexp(ell))",
        "return np.asarray(ell + log1mexp(ell))",
        "ORPO odds: sign",
    ),
    ("_orpo.py", "nll - lam_ * log_sigmoid", "nll + lam_ * log_sigmoid", "ORPO loss: sign"),
    (
        "_stable.py",
        "np.where(x > -log2, near_zero, far)",
        "np.where(x > -log2, far, near_zero)",
        "log1mexp: regimes swapped",
    ),
    (
        "_process.py",
        "return np.asarray(scores.min(axis=-1))",
        "return np.asarray(scores.max(axis=-1))",
        "aggregate: max for min",
    ),
    (
        "_process.py",
        'out["prm"].append(float(right[rows, pick_prm].mean()))',
        'out["prm"].append(float(right[rows, pick_orm].mean()))',
        "best-of-N: PRM uses ORM's pick",
    ),
    (
        "_overopt.py",
        "np.log(n_arr) - (n_arr - 1) / n_arr",
        "np.log(n_arr) - n_arr / (n_arr + 1)",
        "best-of-n KL: off-by-one",
    ),
    (
        "_overopt.py",
        "d_arr * (a - b * np.log(d_arr))",
        "d_arr * (a - b * d_arr)",
        "gold RL: BoN form",
    ),
    (
        "_overopt.py",
        "policies @ proxy, policies @ true",
        "policies @ true, policies @ proxy",
        "sweep: outputs swapped",
    ),
    (
        "_oversight.py",
        "return np.asarray((w2s - w) / gap)",
        "return np.asarray((w2s - w) / ceiling)",
        "PGR: wrong denominator",
    ),
]

TESTS = [
    "test_preference.py",
    "test_kl.py",
    "test_ppo.py",
    "test_dpo.py",
    "test_kto_orpo.py",
    "test_process_overopt.py",
    "test_stability.py",
    "test_api.py",
]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "src" / "alignment_math", work / "alignment_math")
        shutil.copytree(
            ROOT / "tests",
            work / "tests",
            ignore=shutil.ignore_patterns("train", "browser", "pyodide", "__pycache__"),
        )
        env = dict(os.environ, PYTHONPATH=str(work))
        survivors = 0
        for filename, original, mutated, what in MUTATIONS:
            path = work / "alignment_math" / filename
            source = path.read_text(encoding="utf-8")
            if source.count(original) != 1:
                print(f"SKIP  {what}: pattern not found once in {filename}")
                survivors += 1
                continue
            path.write_text(source.replace(original, mutated), encoding="utf-8")
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-x",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "--rootdir",
                    str(work),
                    "-c",
                    os.devnull,
                    *[str(work / "tests" / t) for t in TESTS],
                ],
                env=env,
                cwd=work,
                capture_output=True,
                text=True,
            )
            path.write_text(source, encoding="utf-8")
            caught = result.returncode != 0
            survivors += not caught
            print(f"{'caught' if caught else 'MISSED'}  {what}")
        print(f"{len(MUTATIONS) - survivors} of {len(MUTATIONS)} mutants caught")
        return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
