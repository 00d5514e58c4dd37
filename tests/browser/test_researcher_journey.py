"""A new researcher's journey in headless Chromium, with the real Celery worker doing the imports."""

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from experiments.models import Study
from tests.experiments.builders import add_ratings, image_bytes, make_zip, manifest_zip
from tests.factories import UserFactory


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/studies/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Your studies")


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_researcher_creates_uploads_previews_launches_and_watches(
    live_server: Any, celery_worker: Any, page: Page, tmp_path: Path
) -> None:
    UserFactory(username="newcomer")
    base = live_server.url
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # creates a study
    log_in(page, base, "newcomer")
    page.click("text=New study")
    page.fill("input[name=title]", "Sharpness of generated portraits")
    page.click("button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Study created")
    page.fill("input[name=stimuli_per_session]", "12")
    page.click("#save")
    expect(page.locator(".messages")).to_contain_text("Saved")
    study = Study.objects.get(title="Sharpness of generated portraits")
    assert study.stimuli_per_session == 12

    # a broken upload is refused with every problem listed, nothing imported
    broken = tmp_path / "broken.zip"
    broken.write_bytes(
        make_zip(
            {
                "manifest.csv": b"file,prompt,model\na.png,an apple,m1\nmissing.png,a pear,m1\nbad.png,a plum,m2\n",
                "a.png": image_bytes(1),
                "bad.png": b"not an image",
                "stray.png": image_bytes(2),
            }
        )
    )
    page.click("nav.tabs >> text=Upload")
    page.set_input_files("input[name=archive]", str(broken))
    page.click("#upload-button")
    problems = page.locator("#upload-result ol.problems li")
    expect(problems).to_have_count(3, timeout=30_000)
    expect(page.locator("#upload-result")).to_contain_text("nothing was imported")
    expect(problems.nth(0)).to_contain_text("row 3, missing.png: no such file")
    expect(problems.nth(1)).to_contain_text("row 4, bad.png: not a readable image")
    expect(problems.nth(2)).to_contain_text("stray.png: this image has no row")
    expect(page.locator("#upload-bar")).to_have_attribute("style", "width: 100%;")
    page.screenshot(path=tmp_path / "researcher-upload-refused.png", full_page=True)
    assert study.stimuli.count() == 0

    # a good upload goes through with both progress bars
    good = tmp_path / "good.zip"
    good.write_bytes(manifest_zip(6))
    page.set_input_files("input[name=archive]", str(good))
    page.click("#upload-button")
    expect(page.locator("#upload-result")).to_contain_text("6 stimuli imported", timeout=30_000)
    expect(page.locator("#job-bar")).to_have_attribute("style", "width: 100%;")
    assert study.stimuli.count() == 6

    # gallery and preview
    page.click("#upload-result >> text=Open the gallery")
    expect(page.locator("#gallery .tile")).to_have_count(6)
    expect(page.locator("#gallery .tile").first).to_contain_text("prompt 0")
    first_image = page.locator("#gallery img").first
    expect(first_image).to_have_js_property("naturalWidth", 24)
    page.click("nav.tabs >> text=Preview")
    expect(page.locator("#preview")).to_contain_text("prompt 0")
    expect(page.locator("#preview img").first).to_have_js_property("naturalWidth", 24)
    expect(page.locator("#preview fieldset")).to_have_count(3)
    expect(page.locator("#trial-blocker")).to_be_hidden()
    page.locator("#preview input[type=radio][value='4']").first.check()
    page.screenshot(path=tmp_path / "researcher-preview.png", full_page=True)
    page.click("#preview-next")
    expect(page.locator("#preview")).to_contain_text("prompt 1")

    # launch, then watch the dashboard update on its own
    page.click("text=Back to the study")
    page.click("#launch")
    page.check("input[name=confirm]")  # the checklist warns: no training images, no consent text
    page.click("#confirm-launch")
    expect(page.locator("#study-status")).to_have_text("Open")
    page.click("nav.tabs >> text=Dashboard")
    expect(page.locator("[data-key=valid_ratings]")).to_have_text("0")
    add_ratings(study, study.stimuli.first(), 2)
    expect(page.locator("[data-key=valid_ratings]")).to_have_text("2", timeout=15_000)
    expect(page.locator("[data-key=sessions_completed]")).to_have_text("2")
    expect(page.locator("#histogram g.bin[data-index='2'] text.count")).to_have_text("1")
    page.screenshot(path=tmp_path / "researcher-dashboard.png", full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_demo_study_pages_open_for_the_demo_researcher(live_server: Any, page: Page, tmp_path: Path) -> None:
    from experiments.demo import demo_study_create

    demo_study_create(owner=UserFactory(username="demo"))
    log_in(page, live_server.url, "demo")

    page.click("text=Demo: AI-generated image quality")
    expect(page.locator("#count-test")).to_have_text("25")
    page.click("nav.tabs >> text=Stimuli")
    expect(page.locator("#gallery .tile")).to_have_count(28)
    page.screenshot(path=tmp_path / "researcher-gallery.png", full_page=True)
    page.click("nav.tabs >> text=Settings")
    expect(page.locator("fieldset.perspective")).to_have_count(4)  # 3 + one blank
    page.click("#add-perspective")
    expect(page.locator("fieldset.perspective")).to_have_count(5)
    page.screenshot(path=tmp_path / "researcher-edit.png", full_page=True)
