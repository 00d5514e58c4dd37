"""What kind of device a participant uses, read from the user agent (and the page's own report).

Only coarse classes matter here: the study's device policy refuses phones and tablets before
consent, and the raw export names the browser family. A precise parser would add a dependency for
no gain; iPadOS Safari, which claims to be a Mac, is caught by the entry page's script (touch points).
"""

import re

PHONE = "phone"
TABLET = "tablet"
COMPUTER = "computer"

_BROWSERS = (  # order matters: Edge and Opera also say "Chrome", Chrome also says "Safari"
    ("Edge", r"Edg(?:e|A|iOS)?/(\d+)"),
    ("Opera", r"OPR/(\d+)"),
    ("Samsung Internet", r"SamsungBrowser/(\d+)"),
    ("Firefox", r"(?:Firefox|FxiOS)/(\d+)"),
    ("Chrome", r"(?:Chrome|CriOS|HeadlessChrome)/(\d+)"),
    ("Safari", r"Version/(\d+).*Safari/"),
)
_SYSTEMS = (
    ("iOS", r"iPhone|iPad|iPod"),
    ("Android", r"Android"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X|Macintosh"),
    ("ChromeOS", r"CrOS"),
    ("Linux", r"Linux"),
)


def device_class(user_agent: str, *, mobile_hint: str = "", touch_mac: bool = False) -> str:
    """phone, tablet or computer. `mobile_hint` is the Sec-CH-UA-Mobile header ("?1" on phones);
    `touch_mac` is the page's report of a touch screen on a "Mac" (an iPad)."""
    ua = user_agent or ""
    if mobile_hint == "?1" or re.search(r"iPhone|iPod|Windows Phone|Mobi", ua):
        return PHONE
    if touch_mac or re.search(r"iPad|Android|Tablet|Silk|Kindle", ua):
        return TABLET
    return COMPUTER


def ua_family(user_agent: str) -> str:
    """ "Chrome 131 / Android (phone)": browser family and major version, system, device class."""
    ua = user_agent or ""
    browser = next(
        (f"{name} {m.group(1)}" for name, pattern in _BROWSERS if (m := re.search(pattern, ua))), "other"
    )
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, ua)), "other")
    return f"{browser} / {system} ({device_class(ua)})"


VIEWING_COLUMNS = ("viewport", "screen", "dpr", "zoom_changes", "ua_family")


def _size(value: object) -> str:
    if isinstance(value, dict) and "width" in value and "height" in value:
        return f"{value['width']}x{value['height']}"
    return ""


def viewing_conditions(device: dict) -> tuple[str, str, object, int, str]:  # type: ignore[type-arg]
    """The session's viewing conditions as exported with its ratings (VIEWING_COLUMNS): viewport
    and screen (CSS px) and device pixel ratio at the display check, how often the zoom (the
    device pixel ratio) changed during the trials, and the browser family."""
    if not isinstance(device, dict):
        device = {}
    changes = device.get("changes")
    if not isinstance(changes, list):
        changes = []
    ratios = [device.get("dpr")] + [c.get("dpr") for c in changes if isinstance(c, dict)]
    zooms = sum(1 for a, b in zip(ratios, ratios[1:], strict=False) if b is not None and a != b)
    family = device.get("ua_family") or (ua_family(device["user_agent"]) if device.get("user_agent") else "")
    return (_size(device.get("viewport")), _size(device.get("screen")), device.get("dpr"), zooms, family)
