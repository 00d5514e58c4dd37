"""Helpers shared by the participant browser tests."""

from playwright.sync_api import Page


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
