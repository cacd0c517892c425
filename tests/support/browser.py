"""Headless Chromium for the browser tests: the driver fixture, page screenshots and the
horizontal-overflow check.

Chromium and ChromeDriver come from scripts/ensure_chromium.sh (Debian's `chromium` and
`chromium-driver`, installed with apt-get when missing). Screenshots go to test-artifacts/ at
the repository root.

    from tests.support.browser import browser_fixture  # noqa: F401 (registers `browser`)

    def test_page(browser):
        browser.get(url)
        assert horizontal_overflow(browser) == []
        save_page_screenshot(browser, "page.png")
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
WIDTH, HEIGHT = 1280, 1000  # a laptop's browser window


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator:
    """A headless Chromium (WIDTH x HEIGHT window) driven by Selenium through the system's
    ChromeDriver; fails, naming what to install, when there is none."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = subprocess.run(
        ["bash", str(REPO / "scripts" / "ensure_chromium.sh")], capture_output=True, text=True
    )
    if found.returncode != 0:
        pytest.fail(f"Chromium is not available:\n{found.stderr}")
    chromium, chromedriver = found.stdout.split()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="tradestream-chromium-")
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


def save_page_screenshot(driver, name: str) -> Path:
    """The whole page (not only the window) as test-artifacts/NAME, at the window's width.

    The window grows to the page's height for the picture and then returns to its size.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 200, size["height"]), 16_000))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(size["width"], size["height"])
    return path


# Every laid-out element whose right edge passes the viewport's (the visible width, without
# a vertical scroll bar), and every scroll container whose content is wider than its box: a
# table cut off inside a scrolling panel is as unreadable as one past the window's edge.
_OVERFLOW_JS = """
const limit = document.documentElement.clientWidth;
const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
  (typeof el.className === "string" && el.className ? "." + el.className.split(" ").join(".") : "");
const found = [];
if (document.documentElement.scrollWidth > window.innerWidth) {
  found.push("page: scrollWidth " + document.documentElement.scrollWidth + " > " + window.innerWidth);
}
for (const el of document.body.querySelectorAll("*")) {
  const box = el.getBoundingClientRect();
  if (box.width === 0 && box.height === 0) continue;
  if (box.right > limit + 0.5) {
    found.push(name(el) + ": right edge " + Math.round(box.right) + " > " + limit);
  }
  const style = getComputedStyle(el);
  if (["auto", "scroll", "hidden"].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
    found.push(name(el) + ": content " + el.scrollWidth + " wide in a " + el.clientWidth + " box");
  }
}
return found;
"""


def horizontal_overflow(driver) -> list[str]:
    """What sticks out to the right on the current page (empty when nothing does).

    Scrolls the window to the top first, so that positions are the page's own.
    """
    driver.execute_script("window.scrollTo(0, 0)")
    return driver.execute_script(_OVERFLOW_JS)
