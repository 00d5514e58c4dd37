"""A researcher's whole workflow in headless Chromium: preset, settings section by section, sharing,
duplication, upload (real Celery worker), launch checklist, Prolific link, results; and the API docs.

Screenshots of every page go to /tmp/researcher-workflow/ for people to look at.
"""

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from experiments.models import Stimulus, Study
from tests.experiments.builders import manifest_zip
from tests.factories import RatingSessionFactory, UserFactory, ratings_add

SHOTS = Path("/tmp/researcher-workflow")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Your studies")


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def rate(study: Study, raters: int = 5) -> None:
    """Ratings as the participant pages store them: one trial per stimulus, all perspectives."""
    stimuli = list(study.stimuli.filter(role=Stimulus.Role.TEST).order_by("position"))
    for r in range(raters):
        session = RatingSessionFactory(participant__study=study, status="completed")
        scores = {
            s: {key: float(1 + (i + r) % 5) for key in ("quality", "authenticity", "correspondence")}
            for i, s in enumerate(stimuli)
        }
        ratings_add(session, scores)


def edit_settings_section_by_section(page: Page) -> None:
    # an invalid value is shown next to its field, in words, and nothing is saved
    page.click("nav.settings-bar >> text=Perspectives and scale")
    page.fill("input[name=scale_max]", "1")
    page.click("button[name=section][value=scale]")
    error = page.locator(".field.has-error", has=page.locator("input[name=scale_max]"))
    expect(error).to_contain_text("The highest score must be above the lowest (1).")
    expect(page.locator(".error-summary")).to_contain_text("Nothing was saved")
    shot(page, "03-settings-inline-error")
    page.fill("input[name=scale_max]", "5")
    page.click("button[name=section][value=scale]")
    expect(page.locator(".messages")).to_contain_text("Saved")
    assert page.url.endswith("#scale")

    page.fill("input[name=stimuli_per_session]", "4")
    page.click("button[name=section][value=design]")
    expect(page.locator(".messages")).to_contain_text("Saved")

    page.select_option("select[name=panel]", "prolific")
    expect(page.locator("#id_completion_url_help")).to_contain_text("Not used for Prolific")
    page.fill("input[name=completion_code]", "C0MPLETE")
    page.click("#add-question")
    page.fill("input[name=q-0-key]", "vision")
    page.fill("input[name=q-0-label]", "Do you wear glasses?")
    page.fill("textarea[name=q-0-choices]", "yes\nno")
    page.click("button[name=section][value=participants]")
    expect(page.locator(".messages")).to_contain_text("Saved")

    page.fill("textarea[name=consent_text]", "I agree to rate images for research.")
    page.click("button[name=section][value=texts]")
    expect(page.locator(".messages")).to_contain_text("Saved")
    shot(page, "04-settings-saved")


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_researcher_workflow_from_preset_to_results(
    live_server: Any, celery_worker: Any, browser: Browser, tmp_path: Path
) -> None:
    UserFactory(username="lead")
    UserFactory(username="colleague")
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    errors = console_errors(page)

    # creates a study from the preset
    log_in(page, base, "lead")
    shot(page, "01-study-list-empty")
    page.click("text=New study")
    page.fill("input[name=title]", "Portrait sharpness")
    shot(page, "02-study-create")
    page.click("button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Study created")
    expect(page.locator("fieldset.perspective legend")).to_contain_text(
        ["Quality", "Authenticity", "Correspondence"]
    )

    # edits it section by section
    edit_settings_section_by_section(page)
    study = Study.objects.get(title="Portrait sharpness")
    assert (study.stimuli_per_session, study.panel, study.completion_code) == (4, "prolific", "C0MPLETE")
    assert study.questionnaire[0]["choices"] == ["yes", "no"]

    # shares it with a colleague as viewer
    page.click("nav.tabs >> text=Sharing")
    page.fill("input[name=username]", "colleague")
    page.check("input[name=role][value=viewer]")
    page.click("#share")
    expect(page.locator(".messages")).to_contain_text("colleague can now see this study as viewer")
    expect(page.locator("#people")).to_contain_text("colleague")
    shot(page, "05-sharing")

    # uploads stimuli
    archive = tmp_path / "stimuli.zip"
    archive.write_bytes(manifest_zip(6))
    page.click("nav.tabs >> text=Upload")
    page.set_input_files("input[name=archive]", str(archive))
    page.click("#upload-button")
    expect(page.locator("#upload-result")).to_contain_text("6 stimuli imported", timeout=30_000)
    shot(page, "06-upload-done")

    # launches through the checklist
    page.click("nav.tabs >> text=Overview")
    page.click("#launch")
    checklist = page.locator("#launch-checklist")
    expect(checklist).to_contain_text("no training images")
    shot(page, "07-launch-checklist")
    page.click("#confirm-launch")
    expect(page.locator(".field.has-error")).to_contain_text("Tick the box")
    page.check("input[name=confirm]")
    page.click("#confirm-launch")
    expect(page.locator("#study-status")).to_have_text("Open")

    # copies the Prolific link
    page.click("button[data-copy=link-prolific-url]")
    expect(page.locator("button[data-copy=link-prolific-url]")).to_contain_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == (
        f"{base}/s/{study.slug}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}"
        "&SESSION_ID={{%SESSION_ID%}}"
    )
    expect(page.locator("#link-completion-code")).to_have_value("C0MPLETE")
    shot(page, "08-study-open-with-panel-links")

    # duplicates it (settings and texts, no stimuli)
    page.click("#duplicate")
    page.fill("input[name=title]", "Portrait sharpness, round 2")
    shot(page, "09-duplicate")
    page.click("#create-copy")
    expect(page.locator("h1")).to_contain_text("Portrait sharpness, round 2")
    expect(page.locator("#count-test")).to_have_text("0")
    copy = Study.objects.get(title="Portrait sharpness, round 2")
    assert (copy.completion_code, copy.consent_text) == ("C0MPLETE", "I agree to rate images for research.")
    shot(page, "10-duplicate-created")

    # the study list shows progress; ratings arrive and the researcher reads the results
    rate(study)
    page.goto(f"{base}/studies/")
    expect(page.locator("#study-table")).to_contain_text("Portrait sharpness")
    shot(page, "11-study-list")
    page.goto(f"{base}/analysis/studies/{study.slug}/runs/")
    expect(page.locator("input[name=method][value=bt500_zscore]")).to_be_checked()
    expect(page.locator("fieldset[data-method=bt500_zscore]")).to_contain_text("Screen on")
    shot(page, "12-analysis-start")
    page.click("text=Start analysis")
    # the run page reloads itself once the job is done, with the results
    expect(page.locator("#stimuli-table tbody tr")).to_have_count(6, timeout=60_000)
    thumb = page.locator("#stimuli-table .thumb img").first
    thumb.scroll_into_view_if_needed()  # thumbnails load lazily
    expect(thumb).to_have_js_property("naturalWidth", 24)
    shot(page, "13-results")
    page.goto(f"{base}/analysis/studies/{study.slug}/runs/")
    shot(page, "14-run-list")

    # the colleague sees the shared study, read-only
    other = browser.new_context()
    colleague = other.new_page()
    log_in(colleague, base, "colleague")
    colleague.click("text=Portrait sharpness")
    expect(colleague.locator("body")).to_contain_text("shared with you as viewer by lead")
    expect(colleague.locator("#launch, #pause")).to_have_count(0)
    shot(colleague, "15-colleague-view")
    other.close()

    # no page broke the Content Security Policy (refused forms answer 400, which Chromium logs too)
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors

    # both API docs pages load with zero console errors under the policy
    for path in ("/api/docs/", "/api/redoc/"):
        errors.clear()
        page.goto(f"{base}{path}")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("AIGC image quality studies API")
        expect(page.locator(".opblock-tag").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert errors == [], (path, errors)
    shot(page, "16-api-docs")
    context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_rated_study_pages_show_locks_the_panel_warning_and_the_archive(
    live_server: Any, page: Page, researcher: Any
) -> None:
    # given a rated MTurk study that a link with Prolific's parameters has opened
    from experiments import services
    from tests.experiments.builders import add_ratings
    from tests.factories import StimulusFactory, StudyFactory

    study = StudyFactory(
        owner=researcher, title="Rated study", panel=Study.Panel.MTURK, stimuli_per_session=1
    )
    add_ratings(study, StimulusFactory(study=study), 2)
    services.study_launch(study=study)
    base = live_server.url
    page.goto(f"{base}/s/{study.slug}/?PROLIFIC_PID=p1&STUDY_ID=s1&SESSION_ID=x")
    log_in(page, base, "researcher")

    # the study page warns, and offers the MTurk question XML
    page.click("text=Rated study")
    expect(page.locator("#foreign-panel-warning")).to_contain_text("opened from Prolific")
    expect(page.locator("#link-mturk-xml")).to_have_value(
        f'<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
        f'2006-07-14/ExternalQuestion.xsd">\n  <ExternalURL>{base}/s/{study.slug}/</ExternalURL>\n'
        "  <FrameHeight>0</FrameHeight>\n</ExternalQuestion>"
    )
    shot(page, "20-foreign-panel-warning")

    # the settings show the trial design locked, with the reason, and wording still editable
    page.click("nav.tabs >> text=Settings")
    expect(page.locator("input[name=stimuli_per_session]")).to_be_disabled()
    expect(page.locator(".field.locked").first).to_contain_text("Locked: the study has ratings")
    expect(page.locator("input[name=title]")).to_be_enabled()
    expect(page.locator("#add-perspective")).to_have_count(0)
    shot(page, "21-settings-locked")

    # archiving hides it from the list; the filter shows it
    page.click("nav.tabs >> text=Overview")
    page.click("#archive")
    page.goto(f"{base}/studies/")
    expect(page.locator("#study-table")).not_to_contain_text("Rated study")
    page.click("#show-archived")
    expect(page.locator("#study-table")).to_contain_text("Rated study")
    shot(page, "22-archived-list")
