"""Helpers shared by the participant browser tests."""

import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page


def pump_until(page: Page, condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll until the condition holds, letting Playwright run the page's route and event handlers
    meanwhile (the sync API runs them only inside its own calls, never during time.sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError("condition not met in time")


def resize(
    page: Page, width: int, height: int, *, screen: tuple[int, int] = (2560, 1440), dpr: float = 1
) -> None:
    """Resize the window on a screen that stays as it is (Playwright's set_viewport_size also
    shrinks the emulated screen, which no real window resize does)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": height,
            "deviceScaleFactor": dpr,
            "mobile": False,
            "screenWidth": screen[0],
            "screenHeight": screen[1],
        },
    )
    page.wait_for_function(f"() => window.innerWidth === {width} && window.innerHeight === {height}")
