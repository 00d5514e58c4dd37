"""Participants on any screen: phones, tablets, laptops and desktops, for a "computer only" and an
"any device" study, in headless Chromium against the live server and PostgreSQL.

Every run ends in a completed session or at a clear refusal with the panel's return link, and no
refused participant keeps a session with allocated trials (checked in the database).
"""

import base64
import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from experiments.models import Stimulus, Study
from ratings.models import Participant, Rating, RatingSession, StimulusLoad
from tests.browser.helpers import resize
from tests.browser.test_participant_journey import wait_for
from tests.factories import StimulusFactory, png_bytes
from tests.ratings.conftest import make_study

pytestmark = pytest.mark.browser

PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
TABLET_UA = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
# name: (width, height, device pixel ratio, user agent or None for Chromium's own)
SIZES = {
    "phone-390x844@3": (390, 844, 3, PHONE_UA),
    "tablet-768x1024@2": (768, 1024, 2, TABLET_UA),
    "laptop-1280x720@2": (1280, 720, 2, None),
    "desktop-1440x900@1": (1440, 900, 1, None),
    "fullhd-1920x1080@1": (1920, 1080, 1, None),
}
PROLIFIC_RETURN = "https://app.prolific.com/submissions/complete?cc=OUT-456"


def shot(page: Page, size: str, stage: str) -> None:
    """Screenshots of every stage: set PARTICIPANT_SCREENSHOTS=/some/dir."""
    folder = os.environ.get("PARTICIPANT_SCREENSHOTS")
    if folder:
        page.screenshot(path=f"{folder}/{size}-{stage}.png", full_page=False)


def open_context(browser: Browser, size: str, **extra: Any) -> BrowserContext:
    width, height, ratio, agent = SIZES[size]
    mobile = agent is not None
    options: dict[str, Any] = {
        "viewport": {"width": width, "height": height},
        "screen": {"width": width, "height": height},
        "device_scale_factor": ratio,
        "is_mobile": mobile,
        "has_touch": mobile,
        **extra,
    }
    if agent:
        options["user_agent"] = agent
    context = browser.new_context(**options)
    context.set_default_navigation_timeout(60_000)  # the live server's first request on a busy CI machine
    # The panel's site, so that following the return link can be checked.
    context.route(
        "https://app.prolific.com/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>Prolific</h1>"),
    )
    return context


def screen_study(policy: str, *, image: tuple[int, int] = (512, 512), **fields: Any) -> Study:
    """A small Prolific study: one practice image (references for two perspectives), two test images."""
    study = make_study(
        panel=Study.Panel.PROLIFIC, tests=0, stimuli_per_session=1, device_policy=policy, **fields
    )
    for i in range(2):
        StimulusFactory(
            study=study, prompt=f"a red bicycle {i}", data=png_bytes((40 * i, 90, 160), size=image)
        )
    StimulusFactory(
        study=study,
        prompt="a practice lighthouse",
        role=Stimulus.Role.TRAINING,
        data=png_bytes((200, 180, 90), size=image),
        reference_scores={"quality": 4, "authenticity": [3, 4]},
    )
    Study.objects.filter(pk=study.pk).update(training_count=1)
    study.refresh_from_db()
    return study


def rate(page: Page, index: int, keys: str = "443") -> None:
    expect(page.locator(f'#trial[data-index="{index}"]')).to_be_visible()
    expect(page.locator("#trial-image")).to_have_js_property("complete", True)
    for key in keys:
        page.keyboard.press(key)
    expect(page.locator("#trial-next")).to_be_enabled()
    page.locator("#trial-next").click()


def assert_nothing_allocated(study: Study) -> None:
    assert not RatingSession.objects.filter(study=study).exists()
    assert not Participant.objects.filter(study=study).exists()
    assert all(load == 0 for load in StimulusLoad.objects.filter(study=study).values_list("load", flat=True))


def image_at_native_resolution(page: Page) -> bool:
    return page.evaluate(
        "() => { const i = document.getElementById('trial-image'); const r = i.getBoundingClientRect();"
        " const d = window.devicePixelRatio;"
        " return Math.abs(r.width * d - i.naturalWidth) < 1 && Math.abs(r.height * d - i.naturalHeight) < 1"
        " && r.right <= document.documentElement.clientWidth && r.bottom <= window.innerHeight; }"
    )


def complete_the_session(page: Page, study: Study, size: str) -> RatingSession:
    """Consent, display check, instructions, the practice with its feedback, the test image, the code."""
    shot(page, size, "1-consent")
    page.locator("#consent-agree").click()
    expect(page.locator("#display-status")).to_have_class("display-status ok")
    shot(page, size, "2-display-check")
    page.locator("#display-continue").click()
    shot(page, size, "3-instructions")
    page.locator("#instructions-start").click()
    expect(page.locator("#trial-blocker")).to_be_hidden()
    expect(page.locator("#progress-text")).to_have_text("Practice 1 of 1")
    shot(page, size, "4-practice")
    rate(page, 0, "453")
    # the feedback names each perspective with a reference, and the image stays in view
    feedback = page.locator("#overlay-text")
    expect(feedback).to_contain_text("Quality: your answer 4; the reference answer is 4.")
    expect(feedback).to_contain_text("Authenticity: your answer 5; the reference answer is 3–4.")
    expect(feedback).not_to_contain_text("Correspondence")
    expect(page.locator("#trial-image")).to_be_visible()
    shot(page, size, "5-feedback")
    page.locator("#overlay-continue").click()
    expect(page.locator("#overlay-title")).to_have_text("Practice complete")
    page.locator("#overlay-continue").click()
    expect(page.locator('#trial[data-index="1"]')).to_be_visible()
    expect(page.locator("#trial-image")).to_have_js_property("complete", True)
    assert image_at_native_resolution(page)
    shot(page, size, "6-trial")
    rate(page, 1)
    expect(page.locator("#completion-code")).to_have_text("DONE-123")
    shot(page, size, "7-complete")
    session = RatingSession.objects.get(study=study)
    session.refresh_from_db()
    assert session.status == RatingSession.Status.COMPLETED
    assert Rating.objects.filter(session=session).count() == 2 * 3
    return session


@pytest.mark.parametrize("policy", ["computer", "any"])
@pytest.mark.parametrize("size", list(SIZES))
def test_every_screen_ends_completed_or_refused_with_the_panel_link(
    live_server: Any, browser: Browser, size: str, policy: str
) -> None:
    # given a study with 512x512 images and a participant from Prolific on this device
    study = screen_study(policy)
    context = open_context(browser, size)
    page = context.new_page()

    # when they follow the study link
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=pid-{size}&STUDY_ID=s&SESSION_ID=x")

    phone_or_tablet = SIZES[size][3] is not None
    if policy == "computer" and phone_or_tablet:
        # then a phone or tablet learns before consent that it needs a computer, and goes back
        expect(page.locator("#message")).to_contain_text("This study must be done on a computer")
        expect(page.locator("#consent-agree")).to_have_count(0)
        expect(page.locator("#refusal-return")).to_have_attribute("href", PROLIFIC_RETURN)
        shot(page, size, "0-refused")
        page.locator("#refusal-return").click()
        page.wait_for_url(PROLIFIC_RETURN)
        assert_nothing_allocated(study)
    else:
        # then the session runs to the end, the images at one image pixel per device pixel
        session = complete_the_session(page, study, size)
        assert session.device["dpr"] == SIZES[size][2]
        assert session.device["viewport"] == {"width": SIZES[size][0], "height": SIZES[size][1]}
        assert session.device["layout"] == ("stacked" if size.startswith("phone") else "beside")
        assert session.device["ua_family"].endswith("(phone)" if size.startswith("phone") else ")")
    context.close()


def test_in_an_any_device_study_a_phone_too_small_for_the_images_is_told_before_consent(
    live_server: Any, browser: Browser
) -> None:
    # given images of 1400x1400 pixels: 467 CSS px at 3 device pixels per CSS px, wider than the phone
    study = screen_study("any", image=(1400, 1400))
    context = open_context(browser, "phone-390x844@3")
    page = context.new_page()

    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=big-1&STUDY_ID=s&SESSION_ID=x")

    expect(page.locator("#screen-refusal")).to_be_visible()
    expect(page.locator("#screen-refusal-text")).to_have_text(
        re.compile(
            r"This screen is too small to show the study's images at full size \(1400 × 1400 image pixels\) "
            r"with the questions, which need at least (\d+) × (\d+)\. "
            r"Please take part on a computer with a larger screen\."
        )
    )
    # what it needs is more than this phone (390 x 844 CSS px) has, and at least the image (467 CSS px)
    need = re.search(r"at least (\d+) × (\d+)", page.locator("#screen-refusal-text").inner_text())
    assert need is not None
    width, height = int(need.group(1)), int(need.group(2))
    assert min(width, height) >= 467
    assert width > 390 or height > 844
    expect(page.locator("#consent-agree")).to_be_hidden()
    shot(page, "phone-390x844@3", "0-screen-refused")
    page.locator("#screen-refusal #refusal-return").click()
    page.wait_for_url(PROLIFIC_RETURN)
    context.close()
    assert_nothing_allocated(study)


def test_the_trial_never_refuses_the_smallest_window_the_display_check_accepted(
    live_server: Any, browser: Browser
) -> None:
    # given a session whose second image has a long prompt (a taller question panel)
    study = make_study(tests=0, stimuli_per_session=2, min_viewing_ms=0)
    StimulusFactory(study=study, prompt="short", data=png_bytes((90, 90, 90), size=(700, 500)))
    StimulusFactory(study=study, prompt="a long prompt " * 30, data=png_bytes((90, 20, 90), size=(600, 560)))
    context = browser.new_context(
        viewport={"width": 1800, "height": 1000}, screen={"width": 2560, "height": 1440}
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?pid=edge-1")
    page.locator("#consent-agree").click()
    expect(page.locator("#display-continue")).to_be_enabled()

    # when the window is made exactly as small as the display check allows, and one pixel less
    need = page.evaluate("() => JSON.parse(document.getElementById('display-device').value).need")
    resize(page, need["width"], need["height"] - 1)
    expect(page.locator("#display-continue")).to_be_disabled()
    expect(page.locator("#display-status")).to_contain_text(
        f"Please make the browser window at least {need['width']} × {need['height']}"
    )
    resize(page, need["width"], need["height"])
    expect(page.locator("#display-continue")).to_be_enabled()
    page.locator("#display-continue").click()
    page.locator("#instructions-start").click()

    # then both trials show, whole, at native resolution, with the questions
    for index in range(2):
        expect(page.locator(f'#trial[data-index="{index}"]')).to_be_visible()
        expect(page.locator("#trial-image")).to_have_js_property("complete", True)
        expect(page.locator("#trial-blocker")).to_be_hidden()
        assert image_at_native_resolution(page)
        next_box = page.locator("#trial-next").bounding_box()
        assert next_box is not None
        assert next_box["y"] + next_box["height"] <= need["height"]
        rate(page, index, "333")
    expect(page.locator("#completion-code")).to_be_visible()
    context.close()


def test_a_window_shrunk_during_the_trials_says_how_large_and_offers_pause_and_leave(
    live_server: Any, browser: Browser
) -> None:
    # given a participant rating in a large window
    study = screen_study("computer", image=(800, 600))
    context = open_context(browser, "fullhd-1920x1080@1")
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=shrink-1&STUDY_ID=s&SESSION_ID=x")
    page.locator("#consent-agree").click()
    page.locator("#display-continue").click()
    page.locator("#instructions-start").click()
    expect(page.locator('#trial[data-index="0"]')).to_be_visible()
    session = RatingSession.objects.get(study=study)
    test_stimulus = session.trials.get(kind="test").stimulus_id
    assert StimulusLoad.objects.get(stimulus_id=test_stimulus).load == 1

    # when the window shrinks below what the images need
    resize(page, 900, 600, screen=(1920, 1080))

    # then the overlay says the minimum size, shows the resume link and the way out
    expect(page.locator("#trial-blocker")).to_be_visible()
    expect(page.locator("#trial-blocker-text")).to_contain_text("Please make the browser window at least")
    expect(page.locator("#trial-blocker-text")).to_contain_text("(it is 900 × 600 now)")
    expect(page.locator("#blocker-resume")).to_have_attribute(
        "href", f"{live_server.url}/s/{study.slug}/t/{session.token}/"
    )
    folder = os.environ.get("PARTICIPANT_SCREENSHOTS")
    if folder:  # through CDP: Playwright's own screenshot would restore its viewport first
        data = page.context.new_cdp_session(page).send("Page.captureScreenshot")["data"]
        Path(folder, "shrunk-900x600@1-8-blocked.png").write_bytes(base64.b64decode(data))
    page.locator("#blocker-leave-button").click()

    # and leaving ends the session with the panel's return link, its trials released
    expect(page.locator("#message")).to_contain_text(
        "This screen cannot show the study's images at full size"
    )
    expect(page.locator("#finish")).to_have_attribute("href", PROLIFIC_RETURN)
    shot(page, "fullhd-1920x1080@1", "9-left")
    session.refresh_from_db()
    assert session.status == RatingSession.Status.SCREENED_OUT
    assert session.device["withdrawn"] == "display"
    wait_for(lambda: StimulusLoad.objects.get(stimulus_id=test_stimulus).load == 0)
    context.close()


def test_a_window_that_cannot_be_made_large_enough_can_leave_at_the_display_check(
    live_server: Any, browser: Browser
) -> None:
    # given a screen that could show the images, in a window that (say) cannot grow
    study = screen_study("computer", image=(1100, 650))
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, screen={"width": 1920, "height": 1080}
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=small-2&STUDY_ID=s&SESSION_ID=x")
    page.locator("#consent-agree").click()

    # then the check says how large the window must be, and offers a way out
    expect(page.locator("#display-status")).to_contain_text("(it is 1280 × 800 now)")
    expect(page.locator("#display-continue")).to_be_disabled()
    page.locator("#display-leave-button").click()
    expect(page.locator("#finish")).to_have_attribute("href", PROLIFIC_RETURN)
    context.close()
    session = RatingSession.objects.get(study=study)
    assert session.status == RatingSession.Status.SCREENED_OUT
    assert set(StimulusLoad.objects.filter(study=study).values_list("load", flat=True)) == {0}


def test_a_laptop_screen_too_small_for_the_images_is_told_before_consent(
    live_server: Any, browser: Browser
) -> None:
    study = screen_study("computer", image=(1100, 650))
    context = browser.new_context(
        viewport={"width": 1366, "height": 700}, screen={"width": 1366, "height": 768}
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=small-3&STUDY_ID=s&SESSION_ID=x")
    expect(page.locator("#screen-refusal-text")).to_contain_text("This screen is too small")
    expect(page.locator("#screen-refusal #refusal-return")).to_have_attribute("href", PROLIFIC_RETURN)
    context.close()
    assert_nothing_allocated(study)
