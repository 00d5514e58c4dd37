"""The metric benchmark API: upload, job, results, files, errors, schema."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient
from scipy import stats

from analysis.benchmark.models import MetricBenchmark
from analysis.benchmark.services import metric_benchmark_execute
from analysis.models import AnalysisRun
from tests.analysis.benchmark.conftest import planted_predictions, run_mos


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_authenticate(owner)
    return client


def upload(api, run, content, **extra):
    return api.post(
        f"/api/analysis-runs/{run.pk}/benchmarks/",
        {
            "predictions": SimpleUploadedFile("preds.csv", content, content_type="text/csv"),
            "n_boot": 100,
            **extra,
        },
        format="multipart",
    )


def test_upload_enqueues_the_job_and_the_results_match_scipy(
    api, done_run, django_capture_on_commit_callbacks
):
    # given an upload of planted predictions
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = upload(api, done_run, planted_predictions(done_run))
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["metrics"] == ["close", "noisy"]
    assert len(callbacks) == 1

    # when the job runs (twice: the second does nothing)
    assert metric_benchmark_execute(benchmark_id=body["id"]) == "done"
    assert metric_benchmark_execute(benchmark_id=body["id"]) == "skipped"

    # then the API shows figures equal to scipy's, the best metric, and the files
    detail = api.get(f"/api/benchmarks/{body['id']}/").json()
    assert detail["status"] == "done"
    doc = detail["results"]
    assert doc["best"]["quality"] == dict.fromkeys(("srcc", "krcc", "plcc", "rmse"), "close")
    _, mos = run_mos(done_run)
    row = next(
        r
        for r in doc["results"]
        if r["metric"] == "noisy" and r["perspective"] == "quality" and r["group_by"] == "all"
    )
    content = planted_predictions(done_run).decode().splitlines()[1:]
    noisy = [float(line.split(",")[2]) for line in content if ",noisy," in line]
    assert row["srcc"] == pytest.approx(stats.spearmanr(noisy, mos).statistic, abs=1e-12)
    assert {r["group_by"] for r in doc["results"]} >= {"all", "model", "scene"}
    names = {f["name"] for f in detail["files"]}
    assert {"results.csv", "results.json", "results.tex", "splits.csv", "predictions.csv"} <= names
    tex = api.get(f"/api/benchmarks/{body['id']}/files/results.tex")
    assert tex.status_code == 200
    assert b"\\textbf" in b"".join(tex.streaming_content)
    listing = api.get(f"/api/analysis-runs/{done_run.pk}/benchmarks/").json()
    assert [b["id"] for b in listing["results"]] == [body["id"]]


def test_bad_predictions_get_400_with_one_line_and_nothing_is_saved(api, done_run):
    response = upload(api, done_run, b"stimulus,metric,score\nnot-there.png,m,1\n")

    assert response.status_code == 400
    assert "1 stimulus names of the predictions are not in the run's mos.csv: 'not-there.png'" in json.dumps(
        response.json()
    )
    assert not MetricBenchmark.objects.exists()


def test_a_run_that_is_not_done_cannot_be_benchmarked(api, done_run):
    AnalysisRun.objects.filter(pk=done_run.pk).update(status=AnalysisRun.Status.RUNNING)

    response = upload(api, done_run, planted_predictions(done_run))

    assert response.status_code == 400
    assert "is not done" in json.dumps(response.json())


def test_other_researchers_get_404(done_run, other):
    client = APIClient()
    client.force_authenticate(other)

    assert upload(client, done_run, planted_predictions(done_run)).status_code == 404
    assert client.get(f"/api/analysis-runs/{done_run.pk}/benchmarks/").status_code == 404


def test_unknown_benchmark_and_file_give_404(api, done_run):
    assert api.get("/api/benchmarks/999999/").status_code == 404
    bench_id = upload(api, done_run, planted_predictions(done_run)).json()["id"]
    metric_benchmark_execute(benchmark_id=bench_id)
    assert api.get(f"/api/benchmarks/{bench_id}/files/../../mos.csv").status_code == 404


def test_schema_validates_without_warnings():
    out = io.StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

    assert "/api/analysis-runs/{id}/benchmarks/" in out.getvalue()
