"""A researcher dry-runs the demo study with simulated raters from the UI (real worker, live server)."""

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from pilot.models import PilotRun
from ratings.models import Participant


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_researcher_runs_a_pilot_on_the_demo_study_and_sees_recovered_against_true(
    live_server: Any, rich_demo_study: Any, researcher: Any, celery_worker: Any, page: Page, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # given the demo study's owner on its overview
    page.goto(f"{live_server.url}/accounts/login/?next=/studies/{rich_demo_study.slug}/")
    page.fill("input[name=username]", "researcher")
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")

    # when they open the pilot section and run 24 simulated raters with a fixed seed
    page.click("#pilot-link")
    expect(page.locator("#plan-needed")).to_contain_text("60")  # ceil(30 x 20 / 10)
    page.fill("input[name=raters]", "24")
    page.fill("input[name=seed]", "7")
    # (the form alone: a full-page screenshot here leaves Chromium's next click without effect)
    page.locator("#pilot-form").screenshot(path=tmp_path / "pilot-form.png")
    page.click("#pilot-start")

    # then the page follows the pilot to its end and shows the plot, the recovery and the screening
    expect(page.locator("#pilot-badge")).to_have_text("Done", timeout=120_000)
    plot = page.locator("#pilot-plot")
    expect(plot).to_be_visible()
    assert page.evaluate("document.getElementById('pilot-plot').naturalWidth") > 300
    expect(page.locator("#recovery-table tbody tr")).to_have_count(3)
    expect(page.locator("#screening-summary")).to_contain_text("planted bad raters")
    expect(page.locator("#target-card")).to_contain_text("60")
    # the demo asks for rich feedback: the report says how much of the planted truth came back
    expect(page.locator("#rich-recovery")).to_contain_text("Heatmap peak inside the planted artefact")
    # and, as the form asks by default, the study simulated in both allocation modes with the saving
    expect(page.locator("#modes-table tbody tr")).to_have_count(2)
    expect(page.locator("#modes-saving")).to_contain_text("fewer valid ratings")
    assert page.evaluate("document.getElementById('modes-plot').naturalWidth") > 300
    page.screenshot(path=tmp_path / "pilot-report.png", full_page=True)
    run = PilotRun.objects.get(study=rich_demo_study)
    assert all(p["pearson"] > 0.8 for p in run.report["perspectives"]), run.report["perspectives"]
    modes = run.report["modes"]
    assert (run.compare_modes, run.difficulty) == (True, 0.5)
    assert modes["images"] == 30
    assert modes["modes"]["precision"]["valid"] < modes["modes"]["balanced"]["valid"]
    expect(page.locator("#modes-saving")).to_contain_text(f"{modes['saving_percent']} %")
    expect(page.locator("#modes-precision")).to_contain_text(str(modes["modes"]["precision"]["valid"]))

    # and "Remove pilot data" deletes the pilot in one click
    page.click("nav.tabs >> text=Pilot")
    expect(page.locator("#pilot-counts")).to_contain_text("24 pilot participants")
    page.click("#pilot-remove")
    expect(page.locator(".messages")).to_contain_text("Pilot data removed: 24 participants")
    expect(page.locator("#pilot-counts")).to_contain_text("0 pilot participants")
    assert not Participant.objects.filter(study=rich_demo_study).exists()
    assert not PilotRun.objects.exists()
    # (the browser's own /favicon.ico request is the only 404: the plot's size was checked above)
    assert [e for e in errors if "Failed to load resource" not in e] == []
