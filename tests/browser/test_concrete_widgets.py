"""The concrete widgets of chapters 8 and 9, used the way a reader uses them (issue 11).

* Critique and revision: the reader moves the controls by keyboard and mouse and reads the
  response change — the prompt and starting response, then each round's principle,
  critique and revision — exactly as CPython writes it, with its caption saying the texts
  are illustrative.
* Process vs outcome rewards: the reader ticks and unticks the steps of the worked word
  problem with the keyboard (Tab to a step, Space) and reads which step broke and whether
  the final answer survived; two slips that cancel give the right answer for the wrong
  reason.
* With JavaScript off both texts are there at the defaults, line breaks kept.

Waits are on ``data-state`` and readout text, never on sleeps.
"""

from __future__ import annotations

from typing import Any

import alignment_widgets
import pytest

READY_TIMEOUT_MS = 120_000
MOVE_TIMEOUT_MS = 20_000

READOUT = """([id, key]) => document.querySelector(`#${id} [data-readout="${key}"]`).textContent"""
SHOWS = """([id, want]) => Object.entries(want).every(([k, t]) =>
  document.querySelector(`#${id} [data-readout="${k}"]`).textContent === t)"""


def page_of(pages: list[tuple[str, list[str]]], name: str) -> str:
    for url, names in pages:
        if name in names:
            return url
    raise AssertionError(f"no built page holds the widget {name!r}")


def texts(name: str, **params: object) -> dict[str, str]:
    return {k: v["text"] for k, v in alignment_widgets.get(name).run(params)["readouts"].items()}


def shows(page: Any, uid: str, want: dict[str, str], what: str) -> None:
    try:
        page.wait_for_function(SHOWS, arg=[uid, want], timeout=MOVE_TIMEOUT_MS)
    except Exception:
        pass
    got = {k: page.evaluate(READOUT, [uid, k]) for k in want}
    assert got == want, f"after {what}"


@pytest.fixture(scope="module")
def reader(make_context: Any) -> Any:
    context = make_context()
    page = context.new_page()
    page.guard = context.guard
    yield page
    context.close()


def open_ready(page: Any, site_url: str, url: str, uid: str) -> None:
    page.goto(site_url + url)
    page.wait_for_function(
        "(id) => ['ready', 'error'].includes(document.getElementById(id).dataset.state)",
        arg=uid, timeout=READY_TIMEOUT_MS)
    assert page.get_attribute(f"#{uid}", "data-state") == "ready"


def test_clicking_steps_shows_where_the_chain_broke(reader: Any, site_url: str,
                                                    pages: Any) -> None:
    page, uid = reader, "w-step-toggles"
    open_ready(page, site_url, page_of(pages, "step-toggles"), uid)
    shows(page, uid, texts("step-toggles"), "loading")
    chain = page.locator(f'#{uid} [data-readout="chain"]')
    assert chain.is_visible()
    assert chain.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-line"
    # A reader tabs to step 4 and presses Space, then step 5: the two slips cancel.
    page.locator(f"#{uid}-step4").focus()
    page.keyboard.press("Space")
    want = texts("step-toggles", step4=False)
    shows(page, uid, want, "Space on step 4")
    assert want["answer"] == "$152 (wrong)" and want["first_error"] == "step 4"
    assert "the chain breaks at step 4" in chain.text_content()
    page.keyboard.press("Tab")  # the next control is step 5's checkbox
    assert page.evaluate("document.activeElement.id") == f"{uid}-step5"
    page.keyboard.press("Space")
    want = texts("step-toggles", step4=False, step5=False)
    shows(page, uid, want, "Space on step 5")
    assert want["answer"] == "$162 (right)"
    lines = chain.text_content().split("\n")
    assert lines[4].startswith("4. ✗ Cost: 90 × $1.20 = $118.")
    assert lines[5].startswith("5. ✗ Profit: $270 − $118 = $162.")
    assert lines[-1].endswith("the mistakes in steps 4 and 5 cancel.")
    assert page.locator(f'#{uid} [data-readout="verdict"]').text_content() == (
        "ORM accepts a flawed chain; PRM rejects it")
    # The rendered block keeps the chain's lines: one line box per step at least.
    height = chain.evaluate("e => e.getBoundingClientRect().height")
    line = chain.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 16")
    assert height >= 6 * line
    # A click on step 1: every later step is right arithmetic on a wrong number.
    page.locator(f"#{uid}-step1").click()
    want = texts("step-toggles", step1=False, step4=False, step5=False)
    shows(page, uid, want, "clicking step 1")
    assert want["first_error"] == "step 1" and "breaks at step 1" in want["chain"]
    page.guard.check()


def test_the_revision_text_follows_the_controls(reader: Any, site_url: str,
                                                pages: Any) -> None:
    page, uid = reader, "w-critique-revision"
    open_ready(page, site_url, page_of(pages, "critique-revision"), uid)
    shows(page, uid, texts("critique-revision"), "loading")
    label = page.locator(f'#{uid} .am-readout--text dt').all_text_contents()
    assert any("not model outputs" in t for t in label)
    rounds = page.locator(f'#{uid} [data-readout="rounds_text"]')
    assert rounds.is_visible()
    # Keyboard on the rounds slider: Home → no round yet, ArrowRight → one round.
    page.locator(f"#{uid}-rounds").focus()
    page.keyboard.press("Home")
    shows(page, uid, texts("critique-revision", rounds=0), "Home on rounds")
    assert rounds.text_content().startswith("No round yet")
    page.keyboard.press("ArrowRight")
    want = texts("critique-revision", rounds=1)
    shows(page, uid, want, "ArrowRight on rounds")
    text = rounds.text_content()
    assert text.startswith("Round 1, principle “Avoid harm”\nCritique: ")
    assert "fake one-star" not in text.split("Revision: ")[1]
    # The evasive start, by a click on its radio button: the response is one refusal, and
    # the first round explains instead of refusing.
    page.locator(f"#{uid}-start-2").click()
    want = texts("critique-revision", rounds=1, start="evasive")
    shows(page, uid, want, "choosing the evasive start")
    start = page.locator(f'#{uid} [data-readout="start_text"]').text_content()
    assert start.endswith("Response: I'm sorry, but I can't help with disputes between "
                          "tenants and landlords.")
    assert "Don't evade" in rounds.text_content()
    page.guard.check()


def test_the_texts_are_there_without_javascript(new_context: Any, site_url: str,
                                                pages: Any) -> None:
    page = new_context(java_script_enabled=False).new_page()
    for name, key in (("step-toggles", "chain"), ("critique-revision", "rounds_text")):
        page.goto(site_url + page_of(pages, name))
        uid = f"w-{name}"
        dd = page.locator(f'#{uid} [data-readout="{key}"]')
        assert page.get_attribute(f"#{uid}", "data-state") == "static"
        assert dd.text_content() == texts(name)[key]
        assert dd.is_visible()
        assert dd.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-line"
