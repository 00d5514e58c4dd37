"""A precision study's settings and dashboard in headless Chromium."""

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_researcher_journey import log_in
from tests.ratings.conftest import answer_all, answer_trials, enter, precision_study


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_precision_study_dashboard_and_settings(live_server: Any, page: Page, tmp_path: Path) -> None:
    study = precision_study(minimum=3, maximum=8, target=0.8, tests=10, prompts=5, stimuli_per_session=4)
    for i in range(6):
        answer_trials(
            enter(study), lambda trial, i=i: answer_all(study, 1 + (trial.stimulus_id * (i + 1)) % 5)
        )
    study.owner.set_password("pw-123456")
    study.owner.save()
    shots = Path(os.environ.get("PRECISION_SHOTS", tmp_path))

    log_in(page, live_server.url, study.owner.username)
    page.goto(f"{live_server.url}/studies/{study.slug}/dashboard/")

    expect(page.locator("#precision h2")).to_have_text("Precision")
    expect(page.locator("#precision-histogram g.bin")).to_have_count(9)
    expect(page.locator("#precision tbody tr")).to_have_count(3)
    page.screenshot(path=shots / "precision-dashboard.png", full_page=True)
    page.goto(f"{live_server.url}/studies/{study.slug}/edit/")
    expect(page.locator("select[name=allocation_mode]")).to_have_value("precision")
    expect(page.locator("input[name=p-0-target_half_width]")).to_have_value("0.8")
    page.screenshot(path=shots / "precision-settings.png", full_page=True)
