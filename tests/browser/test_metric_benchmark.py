import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from playwright.sync_api import Page, expect

from analysis import services
from tests.analysis.benchmark.conftest import planted_predictions
from tests.factories import rated_study_create


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_page_benchmark_gives_the_numbers_of_the_offline_command(
    live_server, researcher, celery_worker, page: Page, tmp_path
) -> None:
    # given a done run of the researcher's study, its exported folder, and planted predictions
    study, _, _ = rated_study_create(owner=researcher, stimuli=12, raters=6, seed=3)
    run = services.analysis_run_start(study=study, method="bt500_zscore", enqueue=False)
    services.analysis_run_execute(run_id=run.id)
    run.refresh_from_db()
    with default_storage.open(f"{run.summary['storage_dir']}/{run.zip_name}", "rb") as fh:
        zipfile.ZipFile(fh).extractall(tmp_path / "export")
    preds = tmp_path / "preds.csv"
    preds.write_bytes(planted_predictions(run))
    bad = tmp_path / "bad.csv"
    bad.write_text("stimulus,metric,score\nghost.png,m,1\n")
    call_command(
        "benchmark_metrics",
        "--mos-dir",
        str(tmp_path / "export"),
        "--predictions",
        str(preds),
        "--output-dir",
        str(tmp_path / "offline"),
        "--no-plots",
    )
    offline = json.loads((tmp_path / "offline" / "results.json").read_text())

    # when the researcher opens the run, follows the benchmark link and uploads a bad file
    page.goto(f"{live_server.url}/accounts/login/?next=/analysis/runs/{run.pk}/")
    page.fill("input[name=username]", "researcher")
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")
    page.click("#benchmark-link")
    expect(page.locator("h1")).to_have_text("Benchmark quality metrics")
    page.set_input_files("input[name=predictions]", str(bad))
    page.click("#benchmark-submit")

    # then one clear line says what is wrong
    expect(page.locator("#benchmark-error")).to_contain_text(
        "1 stimulus names of the predictions are not in the run's mos.csv: 'ghost.png'"
    )

    # when they upload the planted predictions with the default options
    page.set_input_files("input[name=predictions]", str(preds))
    page.click("#benchmark-submit")

    # then the job ends, and the page shows the offline command's numbers, the best marked
    expect(page.locator("#bench-badge")).to_have_text("Done", timeout=90_000)
    page.screenshot(path="/tmp/metric-benchmark-page.png", full_page=True)
    for t, key in enumerate(offline["perspectives"], start=1):
        for metric in offline["metrics"]:
            row = next(
                r
                for r in offline["results"]
                if r["perspective"] == key and r["metric"] == metric and r["group_by"] == "all"
            )
            cells = page.locator(f"#results-{t} tr[data-metric={metric}] td")
            shown = [float(cells.nth(k).get_attribute("data-value")) for k in range(2, 6)]
            assert shown == [row["srcc"], row["krcc"], row["plcc"], row["rmse"]]
    assert page.locator("#results-1 tr[data-metric=close] td.best").count() == 4
    assert page.locator("#results-1 td.best").count() == 4

    # and sorting by SRCC ascending puts the noisy metric first
    header = page.locator("#results-1 th", has_text="SRCC")
    header.click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    assert page.locator("#results-1 tbody tr").first.get_attribute("data-metric") == "noisy"
    expect(page.locator(".plots img").first).to_be_visible()
