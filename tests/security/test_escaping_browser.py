"""Prompts and study texts with HTML or script in them are shown as text on every page, in a real
browser: no injected element appears, no injected script runs, the literal text is visible.

The CSP would block an inline script anyway, so the test also asserts that no injected element
exists in the DOM and that the browser reported no CSP violation (escaping, not the policy, is
what keeps the payload inert).
"""

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from analysis import services as analysis_services
from experiments.models import Perspective, Stimulus, Study
from ratings.models import RatingSession
from tests.factories import RatingSessionFactory, UserFactory, ratings_add
from tests.ratings.conftest import enter, make_study

pytestmark = pytest.mark.browser

IMG = "<img src=x onerror=window.__pwned=1>"
SCRIPT = "<script>window.__pwned=1</script>"
PAYLOAD = f"{IMG}{SCRIPT}"


def hostile_study(owner: Any) -> tuple[Study, RatingSession, Any]:
    study = make_study(tests=4, prompts=4, stimuli_per_session=4, training=0)
    Study.objects.filter(pk=study.pk).update(
        owner=owner,
        title=f"Title {PAYLOAD}",
        description=f"Description {PAYLOAD}",
        instructions=f"Instructions {PAYLOAD}",
        consent_text=f"Consent {PAYLOAD}",
        completion_code="DONE-<b>1</b>",
    )
    Perspective.objects.filter(study=study, key="quality").update(
        label=f"Q {IMG}", question=f"How good? {SCRIPT}"
    )
    for i, stimulus in enumerate(Stimulus.objects.filter(study=study).order_by("pk")):
        Stimulus.objects.filter(pk=stimulus.pk).update(prompt=f"prompt {i} {PAYLOAD}", name=f"n{i}<b>.png")
    study.refresh_from_db()
    stimuli = list(Stimulus.objects.filter(study=study).order_by("position"))
    for r in range(3):
        rater = RatingSessionFactory(participant__study=study)
        ratings_add(
            rater,
            {
                s: {"quality": 1 + (j + r) % 5, "authenticity": 3, "correspondence": 2 + j % 3}
                for j, s in enumerate(stimuli)
            },
            start_index=0,
        )
    run = analysis_services.analysis_run_start(study=study, method="mos", enqueue=False)
    analysis_services.analysis_run_execute(run_id=run.id)
    session = enter(study)
    return study, session, run


def log_in(page: Page, base: str, user: Any) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}])


def assert_inert(page: Page, where: str, visible_text: str) -> None:
    assert page.evaluate("window.__pwned") is None, where
    assert page.locator('img[src="x"]').count() == 0, where
    # json_script data blocks carry the prompts (escaped) but are never executed
    runnable = (
        "[...document.scripts].filter(s => s.type !== 'application/json' && s.text.includes('__pwned'))"
    )
    assert page.evaluate(f"{runnable}.length") == 0, where
    expect(page.get_by_text(visible_text, exact=False).first).to_be_visible()


def test_html_in_prompts_and_study_texts_is_shown_as_text_on_every_page(
    live_server: Any, page: Page, tmp_path: Path
) -> None:
    # given a study whose every text carries markup and script
    owner = UserFactory(username="xss-owner")
    study, session, run = hostile_study(owner)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    base = live_server.url
    trial_page = f"{base}/s/{study.slug}/t/{session.token}/"

    # when a participant opens the study link, the instructions and the trials
    page.goto(f"{base}/s/{study.slug}/")
    assert_inert(page, "study link", f"Consent {IMG}")
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.INSTRUCTIONS)
    page.goto(trial_page)
    assert_inert(page, "instructions", f"How good? {SCRIPT}")
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    page.goto(trial_page)
    first = session.trials.get(index=0).prompt_shown
    assert_inert(page, "first trial", first)
    page.screenshot(path=tmp_path / "security-xss-trial.png", full_page=True)
    for _ in range(3):  # one number key per perspective, then Enter: the next prompt comes from JSON
        page.keyboard.press("3")
    page.keyboard.press("Enter")
    expect(page.locator('#trial[data-index="1"]')).to_be_visible()
    assert_inert(page, "second trial (set by script)", session.trials.get(index=1).prompt_shown)

    # and the researcher opens every page that shows these texts
    log_in(page, base, owner)
    for where, path, text in [
        ("study list", "/studies/", f"Title {IMG}"),
        ("study", f"/studies/{study.slug}/", f"Title {IMG}"),
        ("gallery", f"/studies/{study.slug}/stimuli/", "prompt 0 <img"),
        ("preview", f"/studies/{study.slug}/preview/", "<script>window.__pwned=1</script>"),
        ("dashboard", f"/studies/{study.slug}/dashboard/", f"Title {IMG}"),
        ("analysis results", f"/analysis/runs/{run.pk}/", "prompt 1 <img"),
        ("edit form", f"/studies/{study.slug}/edit/", "Dashboard"),
    ]:
        page.goto(base + path)
        assert_inert(page, where, text)
        if where == "analysis results":
            page.screenshot(path=tmp_path / "security-xss-results.png", full_page=True)
        if where == "study":  # the completion code is offered in a copyable field, as typed
            expect(page.locator("#link-completion-code")).to_have_value("DONE-<b>1</b>")

    # then no page tried to run anything
    assert violations == []
