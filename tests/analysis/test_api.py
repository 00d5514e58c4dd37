import io

import pytest
import scipy.io
from rest_framework.test import APIClient

from analysis.models import AnalysisRun


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_authenticate(owner)
    return client


def test_list_runs_of_a_study(api, study_with_run) -> None:
    study, run = study_with_run

    response = api.get(f"/api/studies/{study.slug}/analysis-runs/")

    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["id"] == run.id
    assert item["status"] == "done"
    assert item["study"] == study.slug


def test_start_a_run_enqueues_it_and_answers_202(
    api, study_with_run, django_capture_on_commit_callbacks
) -> None:
    study, _ = study_with_run
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(
            f"/api/studies/{study.slug}/analysis-runs/",
            {"method": "vote_outliers", "parameters": {"threshold": 2.0}, "include_pilot": True},
            format="json",
        )

    assert response.status_code == 202, response.json()
    body = response.json()
    run = AnalysisRun.objects.get(pk=body["id"])
    assert run.status == "pending"
    assert run.include_pilot
    assert run.parameters["threshold"] == 2.0
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"method": "nope"}, "method"),
        ({"method": "mos", "parameters": {"ci": 2}}, "ci"),
        ({"method": "mos", "parameters": {"unknown": 1}}, "unknown parameter"),
    ],
)
def test_start_rejects_bad_input_and_creates_nothing(api, study_with_run, payload, message) -> None:
    study, _ = study_with_run

    response = api.post(f"/api/studies/{study.slug}/analysis-runs/", payload, format="json")

    assert response.status_code == 400
    assert message in str(response.json())
    assert AnalysisRun.objects.filter(study=study).count() == 1


def test_run_status_lists_downloadable_files(api, study_with_run) -> None:
    _study, run = study_with_run

    body = api.get(f"/api/analysis-runs/{run.id}/").json()

    assert body["progress"] == 1.0
    assert body["summary"]["counts"]["stimuli"] == 4
    names = {f["name"]: f["url"] for f in body["files"]}
    assert names["DATA/MOS/mosz1.mat"] == f"/api/analysis-runs/{run.id}/files/DATA/MOS/mosz1.mat"


def test_file_download_streams_the_mat_file_as_attachment(api, study_with_run) -> None:
    _study, run = study_with_run

    response = api.get(f"/api/analysis-runs/{run.id}/files/DATA/MOS/mosz1.mat")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    data = b"".join(response.streaming_content)
    assert scipy.io.loadmat(io.BytesIO(data))["MOSz"].shape == (4, 1)


def test_unknown_run_and_file_answer_404(api, study_with_run) -> None:
    _study, run = study_with_run
    assert api.get("/api/analysis-runs/999999/").status_code == 404
    assert api.get(f"/api/analysis-runs/{run.id}/files/nope.csv").status_code == 404
    assert api.get(f"/api/analysis-runs/{run.id}/files/../../../etc/passwd").status_code == 404
    assert api.get("/api/studies/no-such-study/analysis-runs/").status_code == 404


@pytest.mark.parametrize("who", ["other", "anonymous"])
def test_every_endpoint_refuses_other_researchers_and_anonymous(who, other, study_with_run) -> None:
    study, run = study_with_run
    client = APIClient()
    if who == "other":
        client.force_authenticate(other)
    expected = 404 if who == "other" else 403

    answers = [
        client.get(f"/api/studies/{study.slug}/analysis-runs/").status_code,
        client.post(
            f"/api/studies/{study.slug}/analysis-runs/", {"method": "mos"}, format="json"
        ).status_code,
        client.get(f"/api/analysis-runs/{run.id}/").status_code,
        client.get(f"/api/analysis-runs/{run.id}/files/mos.csv").status_code,
    ]

    assert answers == [expected] * 4
    assert AnalysisRun.objects.filter(study=study).count() == 1


def test_a_collaborator_may_use_the_runs(other, study_with_run) -> None:
    study, run = study_with_run
    study.collaborators.add(other)
    client = APIClient()
    client.force_authenticate(other)

    assert client.get(f"/api/analysis-runs/{run.id}/files/mos.csv").status_code == 200


def test_schema_generates_without_warnings() -> None:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "/api/analysis-runs/{id}/files/{path}" in out.getvalue()
