"""The participant's whole journey in headless Chromium, against the live server and PostgreSQL."""

import os
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from experiments.models import Stimulus, Study
from ratings import qc
from ratings.models import Rating, RatingSession, Trial
from tests.browser.helpers import resize
from tests.factories import StimulusFactory, png_bytes
from tests.ratings.conftest import make_study

pytestmark = pytest.mark.browser


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll the database until the condition holds (the live server writes from its own thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def shot(page: Page, name: str) -> None:
    """Screenshots for looking at the pages: set PARTICIPANT_SCREENSHOTS=/some/dir."""
    folder = os.environ.get("PARTICIPANT_SCREENSHOTS")
    if folder:
        page.screenshot(path=f"{folder}/participant-{name}.png", full_page=True)


def through_the_stages(page: Page) -> None:
    """From the consent page to the first trial: consent, display check, instructions."""
    page.locator("#consent-agree").click()
    expect(page.locator("#display-continue")).to_be_enabled()
    page.locator("#display-continue").click()
    page.locator("#instructions-start").click()
    expect(page.locator("#trial[data-index]")).to_be_visible()


def rate(page: Page, index: int, keys: str = "444") -> None:
    """Answer trial `index` with the keyboard (one number key per perspective, then Enter)."""
    expect(page.locator(f'#trial[data-index="{index}"]')).to_be_visible()
    for key in keys:
        page.keyboard.press(key)
    expect(page.locator("#trial-next")).to_be_enabled()
    page.keyboard.press("Enter")


def continue_overlay(page: Page, title: str) -> None:
    expect(page.locator("#overlay-title")).to_have_text(title)
    page.locator("#overlay-continue").click()


def test_a_prolific_participant_goes_from_the_link_to_the_prolific_redirect_with_the_code(
    live_server: Any, page: Page
) -> None:
    # given a Prolific study with a questionnaire, practice, gold, a trap and breaks
    study = make_study(
        panel=Study.Panel.PROLIFIC,
        tests=8,
        prompts=4,
        training=1,
        gold=1,
        stimuli_per_session=4,
        gold_per_session=1,
        traps_per_session=1,
        break_every=3,
        min_viewing_ms=150,
        questionnaire=[{"key": "age", "label": "Age range", "type": "choice", "choices": ["18-29", "30+"]}],
    )
    page.route(
        "https://app.prolific.com/**",
        lambda route: route.fulfill(
            status=200, content_type="text/html", body="<h1>Prolific: submission complete</h1>"
        ),
    )

    # when the participant follows the link, consents and answers the questionnaire
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=pp-1&STUDY_ID=st-1&SESSION_ID=se-1")
    expect(page.locator("h1")).to_have_text(study.title)
    page.locator("#consent-agree").click()
    page.get_by_label("30+").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#display-continue")).to_be_enabled()
    page.locator("#display-continue").click()
    expect(page.locator("h1")).to_have_text("Instructions")
    page.locator("#instructions-start").click()

    # then practice with the reference answer shown, the study itself with a break, and the code
    rate(page, 0, "453")
    expect(page.locator("#overlay-text")).to_contain_text("your answer 4; the reference answer is 4")
    page.locator("#overlay-continue").click()
    continue_overlay(page, "Practice complete")
    session = RatingSession.objects.get(participant__external_id="pp-1")
    for index in range(1, session.trial_count):
        if index == 4:  # after 3 rated images
            continue_overlay(page, "Time for a short break")
        rate(page, index)
    expect(page.locator("#completion-code")).to_have_text("DONE-123")
    page.locator("#finish").click()
    page.wait_for_url("https://app.prolific.com/submissions/complete?cc=DONE-123")
    expect(page.locator("h1")).to_have_text("Prolific: submission complete")

    session.refresh_from_db()
    assert session.status == RatingSession.Status.COMPLETED
    assert session.questionnaire["answers"] == {"age": "30+"}
    assert session.device["viewport"]["width"] == page.viewport_size["width"]
    assert Rating.objects.filter(session=session).count() == session.trial_count * 3
    assert set(Rating.objects.filter(session=session).values_list("kind", flat=True)) == {
        "training",
        "test",
        "gold",
        "trap",
    }
    # the trap (a mismatched prompt) rated 4 for correspondence is recorded; gold 4/4 is within range
    assert [f.kind for f in qc.failures_from_json(session.qc_failures)] == ["trap"]
    first = Rating.objects.filter(session=session, trial_index=0).order_by("perspective__order")
    assert [r.score for r in first] == [4, 5, 3]
    assert all(r.viewing_ms is not None and r.viewing_ms >= 150 and r.client_time for r in first)


def test_reload_and_a_second_browser_continue_at_the_same_trial_in_the_same_order(
    live_server: Any, page: Page, browser: Browser
) -> None:
    study = make_study(tests=8, stimuli_per_session=5, min_viewing_ms=50)
    page.goto(f"{live_server.url}/s/{study.slug}/?pid=resume-1")
    through_the_stages(page)
    session = RatingSession.objects.get(participant__external_id="resume-1")
    order = list(
        Trial.objects.filter(session=session).order_by("index").values_list("stimulus__sha256", flat=True)
    )

    rate(page, 0)
    rate(page, 1)
    wait_for(lambda: Rating.objects.filter(session=session).count() == 6)
    page.reload()
    expect(page.locator('#trial[data-index="2"]')).to_be_visible()
    assert order[2] in page.locator("#trial-image").get_attribute("src")
    rate(page, 2)
    wait_for(lambda: Rating.objects.filter(session=session).count() == 9)

    # the resume link on another device (a fresh browser context, no local storage)
    other = browser.new_context()
    second = other.new_page()
    second.goto(page.url)
    expect(second.locator('#trial[data-index="3"]')).to_be_visible()
    assert order[3] in second.locator("#trial-image").get_attribute("src")
    # and the panel link with the same id brings back the same session, not a new one
    second.goto(f"{live_server.url}/s/{study.slug}/?pid=resume-1")
    expect(second.locator('#trial[data-index="3"]')).to_be_visible()
    other.close()
    assert RatingSession.objects.filter(participant__external_id="resume-1").count() == 1


def test_a_rating_sent_while_the_network_is_cut_arrives_once_when_it_is_back(
    live_server: Any, page: Page
) -> None:
    study = make_study(tests=6, stimuli_per_session=3, min_viewing_ms=50)
    page.goto(f"{live_server.url}/s/{study.slug}/?pid=offline-1")
    through_the_stages(page)
    session = RatingSession.objects.get(participant__external_id="offline-1")
    attempts: list[str] = []

    def cut(route: Route) -> None:
        attempts.append(route.request.url)
        route.abort("internetdisconnected")

    # when the connection drops before the answer is sent
    page.route("**/api/participant/**", cut)
    rate(page, 0, "234")
    expect(page.locator("#net-banner")).to_contain_text("Connection lost — your answers are kept")
    wait_for(lambda: len(attempts) >= 1)
    # the participant carries on, and even reloads the page, while offline
    expect(page.locator('#trial[data-index="1"]')).to_be_visible()
    page.reload()
    expect(page.locator('#trial[data-index="1"]')).to_be_visible()
    assert not Rating.objects.filter(session=session).exists()

    # then, once the server is reachable again, the answer arrives exactly once
    page.unroute("**/api/participant/**")
    wait_for(lambda: Rating.objects.filter(session=session).count() == 3, timeout=20)
    expect(page.locator("#net-banner")).to_be_hidden()
    rate(page, 1)
    rate(page, 2)
    expect(page.locator("#completion-code")).to_be_visible()
    rows = Rating.objects.filter(session=session)
    assert rows.count() == 9
    assert sorted(rows.filter(trial_index=0).values_list("score", flat=True)) == [2, 3, 4]
    assert rows.filter(trial_index=0).values("idempotency_key").distinct().count() == 1


def test_a_too_small_window_is_refused_with_the_exact_reason_and_accepted_after_resizing(
    live_server: Any, browser: Browser
) -> None:
    study = make_study(tests=0, stimuli_per_session=2, min_viewing_ms=50)
    for i in range(2):
        StimulusFactory(study=study, prompt=f"big {i}", data=png_bytes((10 * i, 90, 200), size=(800, 600)))
    context = browser.new_context(
        viewport={"width": 700, "height": 500}, screen={"width": 1920, "height": 1080}
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?pid=small-1")
    page.locator("#consent-agree").click()

    status = page.locator("#display-status")
    expect(status).to_contain_text(
        "This window is too small to show the images at full size with the questions."
    )
    expect(status).to_contain_text("(it is 700 × 500 now)")
    expect(page.locator("#display-continue")).to_be_disabled()
    resize(page, 1400, 900, screen=(1920, 1080))
    expect(status).to_have_text(
        "Your window (1400 × 900) shows the images at full size with the questions. You can continue."
    )
    page.locator("#display-continue").click()
    page.locator("#instructions-start").click()
    expect(page.locator("#trial-blocker")).to_be_hidden()

    # a window made smaller during the trials blocks them again, with the size it must have
    resize(page, 900, 600, screen=(1920, 1080))
    expect(page.locator("#trial-blocker")).to_be_visible()
    expect(page.locator("#trial-blocker-text")).to_contain_text("Please make the browser window at least")
    expect(page.locator("#trial-blocker-text")).to_contain_text("(it is 900 × 600 now)")
    resize(page, 1400, 900, screen=(1920, 1080))
    expect(page.locator("#trial-blocker")).to_be_hidden()
    context.close()
    session = RatingSession.objects.get(participant__external_id="small-1")
    assert session.device["viewport"] == {"width": 1400, "height": 900}
    assert session.device["fits"] is True


def test_at_device_scale_factor_2_the_image_is_shown_at_half_its_pixel_size_in_css(
    live_server: Any, browser: Browser
) -> None:
    study = make_study(tests=0, stimuli_per_session=1, min_viewing_ms=50)
    StimulusFactory(study=study, prompt="retina", data=png_bytes((90, 90, 200), size=(600, 400)))
    context = browser.new_context(device_scale_factor=2, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?pid=retina-1")
    through_the_stages(page)

    expect(page.locator("#trial-image")).to_have_js_property("complete", True)
    size = page.evaluate(
        "() => { const i = document.getElementById('trial-image'); const r = i.getBoundingClientRect();"
        " return {css: r.width, cssH: r.height, natural: i.naturalWidth, dpr: window.devicePixelRatio}; }"
    )
    context.close()
    assert size == {"css": 300, "cssH": 200, "natural": 600, "dpr": 2}
    assert RatingSession.objects.get(participant__external_id="retina-1").device["dpr"] == 2


def test_two_participants_starting_at_once_get_balanced_disjoint_batches(
    live_server: Any, browser: Browser
) -> None:
    study = make_study(tests=6, prompts=3, stimuli_per_session=3, target_ratings=1)
    pages = []
    for n in range(2):
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{live_server.url}/s/{study.slug}/?pid=twin-{n}")
        pages.append(page)

    # both press "agree" without waiting for the other
    for page in pages:
        page.locator("#consent-agree").click(no_wait_after=True)
    for page in pages:
        expect(page.locator("h1")).to_have_text("Display check")
        page.context.close()

    batches = [
        set(
            Trial.objects.filter(session__participant__external_id=f"twin-{n}").values_list(
                "stimulus_id", flat=True
            )
        )
        for n in range(2)
    ]
    assert len(batches[0]) == len(batches[1]) == 3
    assert not batches[0] & batches[1]
    assert batches[0] | batches[1] == set(
        study.stimuli.filter(role=Stimulus.Role.TEST).values_list("pk", flat=True)
    )


def test_the_demo_study_runs_smoothly_for_a_new_participant(
    live_server: Any, demo_study: Study, page: Page
) -> None:
    Study.objects.filter(pk=demo_study.pk).update(min_viewing_ms=100)
    page.goto(f"{live_server.url}/s/{demo_study.slug}/")
    shot(page, "consent")
    page.locator("#consent-agree").click()
    shot(page, "display")
    page.locator("#display-continue").click()
    shot(page, "instructions")
    page.locator("#instructions-start").click()
    session = RatingSession.objects.filter(study=demo_study).latest("pk")
    training = session.trials.filter(kind="training").count()

    for index in range(session.trial_count):
        if index == 0:
            shot(page, "trial-training")
        rate(page, index, f"{1 + index % 5}{1 + (index + 2) % 5}{1 + (index + 4) % 5}")
        if index < training:
            expect(page.locator("#overlay")).to_be_visible()
            if index == 0:
                shot(page, "feedback")
            page.locator("#overlay-continue").click()
            if index == training - 1:
                continue_overlay(page, "Practice complete")
        elif index + 1 < session.trial_count and (index + 1 - training) % 5 == 0:
            shot(page, "break")
            continue_overlay(page, "Time for a short break")
        if index == training:
            shot(page, "trial")

    expect(page.locator("#completion-code")).to_have_text("DEMO-COMPLETE")
    shot(page, "complete")
    assert re.search(r"/t/[\w-]+/$", page.url)
    session.refresh_from_db()
    assert session.status == "completed"
    assert session.qc_failures == []
