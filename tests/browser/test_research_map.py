"""The research map (chapter 11): keyboard movement, hover/focus summaries, Escape.

The expected order and summaries come from ``alignment_widgets.research_map``, not from the
page.
"""

from __future__ import annotations

from typing import Any

import pytest
from alignment_widgets import research_map as rm

PAGE = "/chapters/11-open-problems/"
ROOT = '[data-widget="research-map"]'
IDS = [node_id for node_id, *_ in rm.NODES]
LABELS = {node_id: label for node_id, label, *_ in rm.NODES}


@pytest.fixture
def page(new_context: Any, site_url: str) -> Any:
    page = new_context().new_page()
    page.goto(site_url + PAGE)
    page.wait_for_selector(f'{ROOT}[data-state="ready"]', timeout=30_000)
    return page


def focused(page: Any) -> str:
    return page.evaluate("document.activeElement.dataset.node || ''")


def summary(page: Any) -> str:
    return page.locator(f"{ROOT} [data-summary]").inner_text()


def test_arrows_home_end_move_focus_in_order_and_wrap(page: Any) -> None:
    page.locator(f'{ROOT} [data-node="{IDS[0]}"]').focus()
    assert focused(page) == IDS[0]
    page.keyboard.press("ArrowRight")
    assert focused(page) == IDS[1]
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowUp")  # wraps from the first to the last
    assert focused(page) == IDS[-1]
    page.keyboard.press("ArrowDown")  # and back from the last to the first
    assert focused(page) == IDS[0]
    page.keyboard.press("End")
    assert focused(page) == IDS[-1]
    page.keyboard.press("Home")
    assert focused(page) == IDS[0]


def test_focus_shows_the_summary_and_its_connections_escape_clears(page: Any) -> None:
    idle = summary(page)
    node = IDS[1]
    page.locator(f'{ROOT} [data-node="{node}"]').focus()
    text = summary(page)
    assert text != idle
    for neighbour in rm.neighbours(node):
        assert LABELS[neighbour] in text
    page.keyboard.press("Escape")
    assert summary(page) == idle


def test_enter_walks_to_each_neighbour_in_turn(page: Any) -> None:
    hub = IDS[0]
    page.locator(f'{ROOT} [data-node="{hub}"]').focus()
    seen = []
    for _ in rm.neighbours(hub):
        page.keyboard.press("Enter")
        seen.append(focused(page))
        page.locator(f'{ROOT} [data-node="{hub}"]').focus()
    assert sorted(seen) == sorted(rm.neighbours(hub))
