"""``llmops view`` in real headless Chromium (Debian's, driven by Playwright).

Screenshots of each page are kept as test artifacts: in ``$LLMOPS_VIEW_SCREENSHOTS`` when
set, else in the test's tmp directory; the path is printed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_view import Viewer

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, viewer: Viewer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.errors = []  # type: ignore[attr-defined]
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))  # type: ignore[attr-defined]
    outside: list[str] = []
    pg.on("request", lambda r: outside.append(r.url)
          if not r.url.startswith(viewer.url) else None)
    yield pg
    assert outside == [], f"the page fetched from elsewhere: {outside}"
    context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("LLMOPS_VIEW_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


def test_runs_to_run_to_compare(page: Any, viewer: Viewer, shots: Path) -> None:
    page.goto(viewer.url + "/")
    assert page.locator("#runs tbody tr").count() == 2
    assert page.locator("#runs td.gate").first.inner_text() == "failed"
    page.screenshot(path=str(shots / "runs.png"), full_page=True)
    page.locator("a.run-link").first.click()
    page.wait_for_url(f"**/runs/{viewer.run_ids[-1]}")
    assert page.locator("#verdict tbody tr").count() == 2
    assert "gate failed" in page.locator("#gate").inner_text()
    assert "regressed" in page.locator("#comparisons").inner_text()
    assert page.locator("#cases article.case").count() == 12
    hostile = page.locator("article[data-case=case-hostile]")
    assert "reason: restates the question; ask c***@example.com" in hostile.inner_text()
    assert "fired: pii.email" in hostile.inner_text()
    assert "question" in hostile.locator("dl.inputs").inner_text()  # the input variables
    page.screenshot(path=str(shots / "run.png"))
    page.locator("#compare-link").click()
    page.wait_for_url("**/compare?**")
    assert "regressed" in page.locator("#comparison").inner_text()
    assert page.locator("#moved article").count() == 12
    assert page.locator("#moved ins").count() >= 12 and page.locator("#moved del").count() >= 12
    assert "+++ qa@v2" in page.locator("#template-diff").inner_text()
    page.screenshot(path=str(shots / "compare.png"))
    assert page.errors == []


def test_runs_filters(page: Any, viewer: Viewer) -> None:
    page.goto(viewer.url + "/")
    page.select_option("select[name=prompt]", "qa")  # a choice submits the form by itself
    page.wait_for_url("**/?**prompt=qa**")
    assert page.locator("#runs tbody tr").count() == 2
    page.fill("input[name=label]", "no-such-label")
    page.locator("#run-filters button[type=submit]").click()
    page.wait_for_url("**label=no-such-label**")
    assert page.locator("#no-runs").is_visible()
    page.fill("input[name=label]", "production")
    page.locator("#run-filters button[type=submit]").click()
    page.wait_for_url("**label=production**")
    assert page.locator("#runs tbody tr").count() == 2


def test_run_filters(page: Any, viewer: Viewer) -> None:
    page.goto(f"{viewer.url}/runs/{viewer.run_ids[0]}")
    page.select_option("select[name=status]", "pass")
    page.wait_for_url("**status=pass**")
    assert page.locator("#no-cases").is_visible()
    page.select_option("select[name=status]", "")
    page.wait_for_url(lambda url: "status=pass" not in url)
    page.wait_for_load_state()
    page.keyboard.press("/")  # jumps to the search box
    page.keyboard.type("number 7")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=number**")
    cases = page.locator("#cases article.case")
    assert cases.count() == 1 and cases.first.get_attribute("data-case") == "case-07"
    page.select_option("select[name=scorer]", "exact")
    page.wait_for_url("**scorer=exact**")
    assert page.locator("#cases article.case").count() == 1


def test_hostile_output_stays_text(page: Any, viewer: Viewer, shots: Path) -> None:
    page.goto(f"{viewer.url}/runs/{viewer.run_ids[0]}?q=script")
    case = page.locator("article[data-case=case-hostile]")
    assert case.count() == 1
    text = case.inner_text()
    assert "<script>window.__pwned = 1</script>" in text and 'onerror="window.__pwned' in text
    assert "a***@example.com" in text and "alice@example.com" not in page.content()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#evil").count() == 0 and page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    page.screenshot(path=str(shots / "hostile.png"))
    page.goto(f"{viewer.url}/compare?a=qa@v1&b=qa@v2&run={viewer.run_ids[0]}")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#evil").count() == 0
    assert page.errors == []


def test_history_chart_and_404(page: Any, viewer: Viewer, shots: Path) -> None:
    page.goto(viewer.url + "/history")
    # two versions x three scorers, one line each
    assert page.locator("#history-chart svg polyline").count() == 6
    assert page.locator("#history tbody tr").count() == 12
    page.screenshot(path=str(shots / "history.png"))
    page.locator("header nav a", has_text="Indexes").click()
    page.wait_for_url("**/indexes")
    assert "llmops index build" in page.locator("#no-index").inner_text()
    page.locator("header nav a", has_text="Guard").click()
    page.wait_for_url("**/guard")
    assert page.locator("#no-scans").is_visible()
    response = page.goto(viewer.url + "/runs/nope")
    assert response.status == 404 and "Not found" in page.locator("h1").inner_text()
