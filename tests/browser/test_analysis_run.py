import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from playwright.sync_api import Page, expect

from experiments.models import Stimulus
from tests.factories import RatingSessionFactory, ratings_add

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
SCREENSHOTS.mkdir(parents=True, exist_ok=True)

# Planted scores of the demo variants: (quality, authenticity, correspondence)
PLANTED = {
    "clean": (5, 5, 5),
    "blur": (2, 3, 4),
    "noise": (1, 2, 4),
    "jpeg": (2, 2, 4),
    "mismatch": (4, 4, 1),
    "glitch": (3, 2, 3),
}


def _rate_demo(study, raters: int = 8) -> None:
    rng = np.random.default_rng(3)
    stimuli = list(study.stimuli.filter(role=Stimulus.Role.TEST).order_by("position"))
    for _ in range(raters):
        session = RatingSessionFactory(participant__study=study)
        scores = {}
        for s in stimuli:
            q, a, c = PLANTED[s.metadata["variant"]]
            noisy = [float(np.clip(v + rng.integers(-1, 2) * (rng.random() < 0.3), 1, 5)) for v in (q, a, c)]
            scores[s] = dict(zip(("quality", "authenticity", "correspondence"), noisy, strict=True))
        ratings_add(session, scores)


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_researcher_runs_the_analysis_sees_plots_and_downloads_the_zip(
    live_server, rich_demo_study, researcher, celery_worker, page: Page, tmp_path
) -> None:
    # given the demo study with ratings, and its owner logged in
    _rate_demo(rich_demo_study)
    page.goto(f"{live_server.url}/accounts/login/?next=/analysis/studies/{rich_demo_study.slug}/runs/")
    page.fill("input[name=username]", "researcher")
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")

    # when they start the default analysis
    expect(page.locator("h1")).to_have_text("Analysis runs")
    expect(page.locator("fieldset[data-method=bt500_zscore]")).to_be_visible()
    expect(page.locator("fieldset[data-method=mle]")).to_be_hidden()
    page.click("text=Start analysis")

    # then the run page follows the job to the end and shows plots and tables
    expect(page.locator("#run-badge")).to_have_text("Done", timeout=60_000)
    expect(page.locator(".plots img").first).to_be_visible()
    page.wait_for_load_state("load")
    for img in page.locator(".plots img").all():  # lazy images load once scrolled to
        img.scroll_into_view_if_needed()
        expect(img).to_have_js_property("complete", True)
    loaded = page.eval_on_selector_all(
        ".plots img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded
    assert all(loaded)
    expect(page.locator("#stimuli-table tbody tr")).to_have_count(30)
    page.screenshot(path=tmp_path / "analysis-run-page.png", full_page=True)

    # sorting by quality MOS puts a clean image first when descending
    header = page.locator("#stimuli-table th", has_text="quality MOS")
    header.click()
    header.click()
    expect(header).to_have_attribute("aria-sort", "descending")
    first_name = page.locator("#stimuli-table tbody tr").first.locator("td").nth(1).inner_text()
    assert first_name.endswith("-1.png")  # variant 1 = clean

    # and the zip downloads, with a mosz1.mat the public loaders can read
    with page.expect_download() as info:
        page.click("#download-zip")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    with zipfile.ZipFile(path) as zf:
        labels = scipy.io.loadmat(io.BytesIO(zf.read("DATA/MOS/mosz1.mat")))["MOSz"]
    assert labels.shape == (30, 1)
    assert labels[0][0] > labels[1][0]  # clean beats blurred


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_pilot_including_run_is_labelled_in_the_run_list_and_on_its_page(
    live_server, rich_demo_study, researcher, page: Page
) -> None:
    # given a done run over real data and a done run that includes pilot data
    from analysis import services

    _rate_demo(rich_demo_study, raters=4)
    runs = []
    for include_pilot in (False, True):
        run = services.analysis_run_start(
            study=rich_demo_study, method="mos", include_pilot=include_pilot, enqueue=False
        )
        services.analysis_run_execute(run_id=run.id)
        runs.append(run)
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/?next=/analysis/studies/{rich_demo_study.slug}/runs/")
    page.fill("input[name=username]", "researcher")
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")

    # then the list labels each run's data, the pilot-including one with a badge
    rows = page.locator("table.table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".run-pilot")).to_have_text("includes pilot data")
    expect(rows.nth(1)).to_contain_text("real data")
    page.screenshot(path=str(SCREENSHOTS / "run-list-pilot-label.png"), full_page=True)
    # and its page says it sets no exclusions
    page.goto(f"{live_server.url}/analysis/runs/{runs[1].pk}/")
    expect(page.locator("#pilot-included")).to_contain_text("sets no exclusions")
    page.screenshot(path=str(SCREENSHOTS / "run-detail-pilot-label.png"), full_page=True)
