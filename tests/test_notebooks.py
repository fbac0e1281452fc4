"""Execute every notebook under docs/notebooks/ and check what it computes.

Notebooks are committed without outputs; this runs them top to bottom in a fresh kernel
(nbclient + ipykernel), so a notebook that errors, or whose numbers drift from what its
text claims, fails here.  Each must finish within a minute."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "docs" / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 60


def execute(path: Path) -> tuple[str, float]:
    """Run the notebook; return all its stdout text and the wall time in seconds."""
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    # Figures render off-screen; MPLBACKEND is read by matplotlib in the kernel.  The
    # kernel gets this whole environment (jupyter_client does not merge it with ours).
    client.execute(env={**os.environ, "MPLBACKEND": "Agg"})
    elapsed = time.perf_counter() - start
    text = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                text.append(output["text"])
    return "".join(text), elapsed


def test_there_are_three_notebooks_without_outputs() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01-bradley-terry.ipynb",
        "02-dpo-bandit.ipynb",
        "03-overoptimisation.ipynb",
    ]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (
                    f"{path.name}: commit notebooks with outputs stripped"
                )


@pytest.fixture(scope="module")
def executed() -> dict[str, tuple[str, float]]:
    return {}


def run_once(name: str, cache: dict[str, tuple[str, float]]) -> str:
    if name not in cache:
        cache[name] = execute(next(p for p in NOTEBOOKS if p.name == name))
        print(f"{name}: {cache[name][1]:.1f} s")
    text, elapsed = cache[name]
    assert elapsed < TIMEOUT_S
    return text


def floats(line_start: str, text: str) -> list[float]:
    line = next(ln for ln in text.splitlines() if ln.startswith(line_start))
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d*)?(?:e-?\d+)?", line[len(line_start):])]


def test_bradley_terry_notebook(executed: dict[str, tuple[str, float]]) -> None:
    text = run_once("01-bradley-terry.ipynb", executed)
    assert "converged: True" in text
    true, fitted = floats("true weights / tau:", text), floats("fitted weights:", text)
    assert all(abs(t - f) < 0.35 for t, f in zip(true, fitted, strict=True))
    accuracies = [float(m) for m in re.findall(r"pairs: (\d\.\d+)", text)]
    ceiling = floats("ceiling (true reward):", text)[0]
    assert accuracies[-1] > accuracies[0] and ceiling - 0.02 < accuracies[-1] <= ceiling


def test_dpo_bandit_notebook(executed: dict[str, tuple[str, float]]) -> None:
    text = run_once("02-dpo-bandit.ipynb", executed)
    kl = floats("KL(pi* || pi_theta)   :", text)[0]
    assert kl < 1e-8, "population DPO must reach the closed-form optimum"
    trained, optimum = floats("loss after training   :", text)[0], floats("loss at pi*", text)[0]
    assert trained == pytest.approx(optimum, abs=1e-6)
    assert floats("KL(pi* || pi_theta):", text)[0] < 0.05  # sampled: close, not exact
    # The markdown's count of labelled pairs, and the Bradley-Terry fit's stationarity:
    # each response's observed wins equal its predicted wins (not each pair's win rate).
    assert "5000 draws, 3945 labelled pairs" in text
    observed, predicted = floats("wins, observed :", text), floats("wins, predicted:", text)
    assert observed == pytest.approx(predicted, abs=0.01)
    empirical, fitted, _true = floats("largest gap: pair", text)[-3:]
    assert abs(empirical - fitted) > 0.01  # 5 free logits cannot match 15 pairwise rates


def test_overoptimisation_notebook(executed: dict[str, tuple[str, float]]) -> None:
    text = run_once("03-overoptimisation.ipynb", executed)
    # With no misspecification the true reward ends at its peak; with a bonus it falls.
    for line in text.splitlines():
        if line.startswith("bonus"):
            match = re.search(r"peaks at (-?\d+\.\d+) \(KL .* sweep (-?\d+\.\d+)", line)
            assert match, line
            peak, end = float(match[1]), float(match[2])
            if line.startswith("bonus  0.0"):
                assert end == pytest.approx(peak, abs=1e-3)
            else:
                assert end < peak - 0.1
    beta_peak = floats("true reward peaks at beta =", text)[0]
    beta_cross = floats("covariance turns negative at beta =", text)[0]
    assert beta_cross == pytest.approx(beta_peak, rel=0.1)
    for line in text.splitlines():
        if line.startswith("n = "):
            match = re.search(r"KL\s+(-?\d+\.\d+)\s+bound\s+(-?\d+\.\d+)", line)
            assert match, line
            exact, bound = float(match[1]), float(match[2])
            assert exact <= bound + 1e-9, line
    cap = floats("largest possible KL (always the top response):", text)[0]
    assert exact <= cap
