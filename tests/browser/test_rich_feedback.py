"""Rich feedback on the trial page (issue 17) in headless Chromium, against the live server and
PostgreSQL: points on the image by mouse, keyboard and touch, prompt words as toggles, through a
network cut and a reload; the database ends with exactly those marks, once."""

import os
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from analysis.stats.rich import tokenize_prompt
from experiments.models import Study
from experiments.services import study_update
from ratings.models import Annotation, Rating, RatingSession
from tests.browser.helpers import pump_until
from tests.browser.test_participant_journey import through_the_stages
from tests.browser.test_participant_screens import image_at_native_resolution, open_context
from tests.factories import StimulusFactory, png_bytes
from tests.ratings.conftest import make_study

pytestmark = pytest.mark.browser
API = "**/api/participant/**"
WIDTH, HEIGHT = 400, 300
PROMPTS = [
    "A red bicycle leaning on a blue wall, with a sleeping cat",
    "Two astronauts playing chess on the Moon",
    "An old lighthouse at dusk, waves crashing",
]
TASKS = [
    {
        "key": "artefacts",
        "kind": "regions",
        "label": "Broken areas",
        "instructions": "Mark what looks wrong.",
    },
    {"key": "missing", "kind": "words", "label": "Missing words", "instructions": ""},
]


def shot(page: Page, name: str) -> None:
    """Screenshots for looking at the page: set PARTICIPANT_SCREENSHOTS=/some/dir."""
    folder = os.environ.get("PARTICIPANT_SCREENSHOTS")
    if folder:
        page.screenshot(path=f"{folder}/rich-{name}.png", full_page=True)


def rich_study(**fields: Any) -> Study:
    """Three 400x300 test images with long prompts; a regions and a words task (the service)."""
    study = make_study(tests=0, stimuli_per_session=3, min_viewing_ms=0, **fields)
    for i, prompt in enumerate(PROMPTS):
        StimulusFactory(
            study=study, prompt=prompt, data=png_bytes((60 + 40 * i, 110, 150), size=(WIDTH, HEIGHT))
        )
    return study_update(study=study, fields={}, annotation_tasks=TASKS)


def image_box(page: Page) -> dict[str, float]:
    expect(page.locator("#trial-image")).to_have_js_property("complete", True)
    box = page.locator("#trial-image").bounding_box()
    assert box is not None
    return box


def scales(page: Page, keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


def token(page: Page, i: int) -> Any:
    return page.locator(f'.task-words .token[data-index="{i}"]')


def stored(session: RatingSession) -> dict[tuple[int, str], tuple[bool, Any, Any]]:
    return {
        (index, key): (nothing, points, tokens)
        for index, key, nothing, points, tokens in Annotation.objects.filter(session=session).values_list(
            "trial__index", "task__key", "nothing", "points", "tokens"
        )
    }


def assert_point(point: list[float], px: tuple[float, float]) -> None:
    """A stored normalised point lies within 1 image pixel of where the page was clicked."""
    assert abs(point[0] * WIDTH - px[0]) <= 1, (point, px)
    assert abs(point[1] * HEIGHT - px[1]) <= 1, (point, px)


def test_marks_by_mouse_and_keyboard_survive_a_network_cut_and_a_reload_once(
    live_server: Any, browser: Browser
) -> None:
    # given a study with both tasks, at the first trial, in a window the taller panel fits beside
    study = rich_study()
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, screen={"width": 1920, "height": 1200}
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?pid=rich-1")
    through_the_stages(page)
    session = RatingSession.objects.get(participant__external_id="rich-1")
    first = session.trials.get(index=0)
    words = page.locator(".task-words .token")
    expect(words).to_have_count(len(tokenize_prompt(first.prompt_shown)))
    assert words.all_inner_texts() == tokenize_prompt(first.prompt_shown)

    # when the scales are answered, "Next" still waits for the tasks
    scales(page, "234")
    expect(page.locator("#trial-hint")).to_have_text(
        "Answer the marking tasks too (or say there is nothing to mark)."
    )
    expect(page.locator("#trial-next")).to_be_disabled()

    # mouse: three points, the third removed again by clicking its mark; two words toggled, one back
    box = image_box(page)
    clicks = [(37, 211), (300, 45), (150, 150)]
    for x, y in clicks:
        page.mouse.click(box["x"] + x, box["y"] + y)
    expect(page.locator(".trial-mark")).to_have_count(3)
    expect(page.locator("#task-count-regions")).to_have_text("3 marks.")
    page.locator('.trial-mark[data-index="2"]').click()
    expect(page.locator(".trial-mark")).to_have_count(2)
    for i in (1, 4, 6):
        token(page, i).click()
    token(page, 6).click()
    expect(token(page, 1)).to_have_attribute("aria-pressed", "true")
    expect(token(page, 6)).to_have_attribute("aria-pressed", "false")
    shot(page, "desktop-1-marked")
    expect(page.locator("#trial-next")).to_be_enabled()
    page.locator("#trial-next").click()

    # keyboard on trial 1: the image takes the focus; arrows move the cross, Enter and Space mark,
    # Delete takes the last mark back; the words task's "all shown" by keyboard
    expect(page.locator('#trial[data-index="1"]')).to_be_visible()
    expect(page.locator(".trial-mark")).to_have_count(0)
    expect(page.locator("#trial-next")).to_be_disabled()
    box = image_box(page)
    page.locator("#trial-canvas").focus()
    for key in ["ArrowRight"] * 3 + ["ArrowDown"] * 2 + ["Enter"] + ["ArrowLeft"] * 8 + [" ", "Delete"]:
        page.keyboard.press(key)
    for key in ["ArrowUp"] * 5 + ["Shift+ArrowLeft"] * 4 + ["Enter"]:
        page.keyboard.press(key)
    expect(page.locator(".trial-mark")).to_have_count(2)
    page.locator(".task-words .task-none").focus()
    page.keyboard.press("Space")
    expect(page.locator(".task-words .task-none")).to_have_attribute("aria-pressed", "true")
    shot(page, "desktop-2-keyboard")

    # the network drops as this answer is sent; the participant reloads while offline
    attempts: list[str] = []

    def cut(route: Route) -> None:
        attempts.append(route.request.url)
        route.abort("internetdisconnected")

    page.route(API, cut)
    page.locator("#trial-next").focus()
    scales(page, "345")
    page.keyboard.press("Enter")
    expect(page.locator("#net-banner")).to_contain_text("Connection lost")
    pump_until(page, lambda: len(attempts) >= 1)
    expect(page.locator('#trial[data-index="2"]')).to_be_visible()
    page.reload()
    expect(page.locator('#trial[data-index="2"]')).to_be_visible()
    assert not Annotation.objects.filter(session=session, trial__index=1).exists()

    # then the answer arrives once the network is back, marks and all
    page.unroute(API)
    pump_until(page, lambda: Annotation.objects.filter(session=session, trial__index=1).count() == 2)
    expect(page.locator("#net-banner")).to_be_hidden()

    # the last trial: "nothing to mark" and one word, then the end
    page.locator(".task-regions .task-none").click()
    token(page, 0).click()
    scales(page, "111")
    page.locator("#trial-next").click()
    expect(page.locator("#completion-code")).to_be_visible()

    # the database holds exactly those marks, once
    marks = stored(session)
    assert set(marks) == {(i, k) for i in range(3) for k in ("artefacts", "missing")}
    assert Annotation.objects.filter(session=session).count() == 6
    nothing, points, _ = marks[(0, "artefacts")]
    assert not nothing
    assert len(points) == 2
    for point, px in zip(points, clicks[:2], strict=True):
        assert_point(point, px)
    assert marks[(0, "missing")] == (False, [], [1, 4])
    w, h = box["width"], box["height"]
    nothing, points, _ = marks[(1, "artefacts")]
    assert not nothing
    assert len(points) == 2
    assert_point(points[0], (w / 2 + 30, h / 2 + 20))
    assert_point(points[1], (w / 2 + 30 - 80 - 4, h / 2 + 20 - 50))
    assert marks[(1, "missing")] == (True, [], [])
    assert marks[(2, "artefacts")] == (True, [], [])
    assert marks[(2, "missing")] == (False, [], [0])
    assert Rating.objects.filter(session=session).count() == 9
    # one key per trial, shared by its ratings (the annotations went in the same request)
    assert Rating.objects.filter(session=session).values("idempotency_key").distinct().count() == 3
    context.close()


def test_a_phone_marks_by_touch_in_the_stacked_layout(live_server: Any, browser: Browser) -> None:
    # given an any-device study on a phone (390x844 CSS px at 3 device pixels per CSS px)
    study = rich_study(device_policy=Study.DevicePolicy.ANY)
    context = open_context(browser, "phone-390x844@3")
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{study.slug}/?pid=phone-1")
    through_the_stages(page)
    session = RatingSession.objects.get(participant__external_id="phone-1")
    expect(page.locator("#trial.layout-stacked")).to_be_visible()
    expect(page.locator("#trial-blocker")).to_be_hidden()
    assert image_at_native_resolution(page)
    shot(page, "phone-1-trial")

    # when the participant taps the image twice and a word, and answers the scales by tapping
    box = image_box(page)
    page.locator("#trial-canvas").tap(position={"x": 20, "y": 30})
    page.locator("#trial-canvas").tap(position={"x": 100, "y": 80})
    token(page, 2).tap()
    for key in ("quality", "authenticity", "correspondence"):
        page.locator(f'.scale[data-key="{key}"] .level:has(input[value="3"])').tap()
    shot(page, "phone-2-marked")
    page.locator("#trial-next").tap()

    # then both points are stored, normalised to the image (133x100 CSS px here)
    pump_until(page, lambda: Annotation.objects.filter(session=session).count() == 2)
    _, points, _ = stored(session)[(0, "artefacts")]
    assert box["width"] == pytest.approx(WIDTH / 3, abs=1)
    assert points[0] == pytest.approx([20 / box["width"], 30 / box["height"]], abs=1 / 100)
    assert points[1] == pytest.approx([100 / box["width"], 80 / box["height"]], abs=1 / 100)
    assert stored(session)[(0, "missing")] == (False, [], [2])
    context.close()
