"""The researcher's participants page in headless Chromium, with participants who went through the
real HTTP flow (pilot.simulator): filter, override a decision, download the panel's list, forget."""

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from experiments.models import Study
from pilot.simulator import STRAIGHTLINER, ParticipantClient, Population, simulate
from ratings.models import Participant
from tests.factories import UserFactory
from tests.ratings.conftest import make_study

SHOTS = Path("/tmp")


def prolific_query(index: int) -> dict[str, str]:
    return {"PROLIFIC_PID": f"5fa00{index}", "STUDY_ID": "st-1", "SESSION_ID": f"se-{index}"}


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/studies/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Your studies")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_researcher_filters_overrides_a_decision_downloads_the_list_and_forgets(
    live_server: Any, page: Page, tmp_path: Path
) -> None:
    # given a Prolific study with straight-lining checks; three simulated participants, one a
    # straight-liner, take part over HTTP, and a fourth declines consent
    owner = UserFactory(username="owner")
    study = make_study(
        owner=owner,
        panel=Study.Panel.PROLIFIC,
        tests=10,
        stimuli_per_session=5,
        target_ratings=3,
        check_straightlining=True,
        pay_per_participant=2,
    )
    population = Population(seed=3, spammers=0, straightliners=0.34, abandoners=0)
    result = simulate(
        live_server.url,
        study.slug,
        3,
        population=population,
        concurrency=1,
        query=lambda r: prolific_query(r.index),
    )
    assert result.outcomes() == {"completed": 3}, result.summary()
    liner = next(p.rater.index for p in result.participants if p.rater.kind == STRAIGHTLINER)
    liner_pid = prolific_query(liner)["PROLIFIC_PID"]
    honest_pids = {prolific_query(p.rater.index)["PROLIFIC_PID"] for p in result.participants} - {liner_pid}
    ParticipantClient(live_server.url, study.slug, prolific_query(9)).enter(agree=False)
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "favicon" not in m.location["url"] else None,
    )

    # when the owner opens the participants page from the study's tabs
    log_in(page, live_server.url, "owner")
    page.goto(f"{live_server.url}/studies/{study.slug}/")
    page.click("nav.tabs >> text=Participants")
    rows = page.locator("#participants tbody tr")
    expect(rows).to_have_count(4)
    liner_row = page.locator(f"#participants tr:has(.pid:text-is('{liner_pid}'))")
    expect(liner_row.locator(".decision .badge")).to_have_text("Reject")
    expect(liner_row).to_contain_text("straightlining")
    expect(page.locator("tr:has(.pid:text-is('5fa009')) .badge.pstatus-declined")).to_have_text(
        "Declined consent"
    )
    page.screenshot(path=str(SHOTS / "participants-page.png"), full_page=True)

    # filter: only the suggested rejections
    page.select_option("#participant-filters select[name=decision]", "reject")
    page.click("#filter")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".pid")).to_have_text(liner_pid)

    # override: approve the straight-liner with a message; the filter stays, the row leaves it
    rows.first.locator("details.decide summary").click()
    rows.first.locator("select[name=decision]").select_option("approve")
    rows.first.locator("input[name=message]").fill("Approved: the images really were alike.")
    rows.first.locator("details.decide button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("saved")
    assert "decision=reject" in page.url
    expect(page.locator("#participants tbody")).to_contain_text("No participants match.")
    assert Participant.objects.get(external_id=liner_pid).decision == "approve"
    page.select_option("#participant-filters select[name=decision]", "")
    page.click("#filter")
    expect(liner_row.locator(".decision")).to_contain_text("(yours)")

    # download the Prolific approval list: every completed participant, none declined
    with page.expect_download() as download_info:
        page.click("text=Prolific: ids to approve")
    download = download_info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert download.suggested_filename == f"{study.slug}-prolific-approve.txt"
    assert set(target.read_text().split()) == honest_pids | {liner_pid}

    # forget the declined participant, after the confirmation
    page.click("tr:has(.pid:text-is('5fa009')) >> text=Forget…")
    page.click("#forget")  # not confirmed: the browser keeps the form (the box is required)
    expect(page.locator("#forget-form")).to_be_visible()
    assert Participant.objects.filter(external_id="5fa009").exists()
    page.check("input[name=confirm]")
    page.click("#forget")
    expect(page.locator(".messages")).to_contain_text("was erased")
    assert not Participant.objects.filter(external_id="5fa009").exists()
    expect(rows).to_have_count(4)
    page.screenshot(path=str(SHOTS / "participants-page-after.png"), full_page=True)

    # the dashboard: stalled apart, per perspective, cost to finish; the axis label inside the chart
    page.click("nav.tabs >> text=Dashboard")
    expect(page.locator("[data-key=participants_needed]")).to_have_text("3")
    expect(page.locator("#perspective-progress tbody tr")).to_have_count(study.perspectives.count())
    expect(page.locator("[data-key=cost_text]")).to_have_text("10.00")
    label = page.locator("#histogram .axis-label").bounding_box()
    chart = page.locator("#histogram").bounding_box()
    assert label is not None
    assert chart is not None
    assert label["y"] + label["height"] <= chart["y"] + chart["height"]
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    assert errors == []
