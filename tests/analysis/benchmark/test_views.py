"""The benchmark pages: upload errors in words, access rules, the splits download."""

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.benchmark.models import MetricBenchmark
from analysis.benchmark.services import metric_benchmark_execute
from tests.analysis.benchmark.conftest import planted_predictions


def test_bad_upload_shows_the_one_line_error_and_saves_nothing(client, owner, done_run):
    client.force_login(owner)

    response = client.post(
        f"/analysis/runs/{done_run.pk}/benchmarks/",
        {
            "predictions": SimpleUploadedFile("p.csv", b"stimulus,metric,score\nimg-x.png,m,inf\n"),
            "n_boot": 10,
        },
    )

    assert response.status_code == 400
    assert "1 score(s) are not finite numbers: line 2: &#x27;inf&#x27;" in response.content.decode()
    assert not MetricBenchmark.objects.exists()


def test_good_upload_redirects_to_the_benchmark_which_shows_the_best_metric(client, owner, done_run):
    client.force_login(owner)

    response = client.post(
        f"/analysis/runs/{done_run.pk}/benchmarks/",
        {"predictions": SimpleUploadedFile("p.csv", planted_predictions(done_run)), "n_boot": 50, "seed": 1},
    )
    bench = MetricBenchmark.objects.get()
    metric_benchmark_execute(benchmark_id=bench.pk)
    page = client.get(response["Location"]).content.decode()

    assert response["Location"] == f"/analysis/benchmarks/{bench.pk}/"
    assert page.count('class="best"') == 4 * 3  # four columns, three perspectives
    assert 'tr data-metric="close"' in page
    assert client.get(f"/analysis/benchmarks/{bench.pk}/files/results.csv").status_code == 200


def test_other_researchers_get_404_on_every_benchmark_page(client, other, done_run):
    bench = MetricBenchmark.objects.create(run=done_run, predictions_name="p.csv")
    client.force_login(other)

    assert client.get(f"/analysis/runs/{done_run.pk}/benchmarks/").status_code == 404
    assert client.get(f"/analysis/runs/{done_run.pk}/splits.csv").status_code == 404
    assert client.get(f"/analysis/benchmarks/{bench.pk}/").status_code == 404
    assert client.get(f"/analysis/benchmarks/{bench.pk}/status.json").status_code == 404


def test_splits_download_keeps_each_prompt_on_one_side(client, owner, done_run):
    client.force_login(owner)

    response = client.get(f"/analysis/runs/{done_run.pk}/splits.csv")

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 10 * 12
    for s in range(10):
        sides = {}
        for r in rows:
            if r["split"] == str(s):
                sides.setdefault(r["prompt"], set()).add(r["set"])
        assert all(len(v) == 1 for v in sides.values())
        assert any(v == {"test"} for v in sides.values())


def test_the_run_page_links_to_the_benchmark(client, owner, done_run):
    client.force_login(owner)

    page = client.get(f"/analysis/runs/{done_run.pk}/").content.decode()

    assert f'href="/analysis/runs/{done_run.pk}/benchmarks/"' in page
