import csv
import io
import json
import threading
import zipfile
from datetime import timedelta

import numpy as np
import pytest
import scipy.io
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from analysis import services
from analysis.exceptions import AnalysisRunInvalid, ClaimLost, JobQueueUnavailable
from analysis.models import AnalysisRun
from ratings import qc
from ratings.models import Participant, RatingSession
from tests.factories import (
    RatingSessionFactory,
    StimulusFactory,
    StudyFactory,
    rated_study_create,
    ratings_add,
)
from tests.ratings.conftest import (
    answer_all,
    answer_trials,
    enter,
    gold_and_straightlining_failure,
    make_study,
)

Status = AnalysisRun.Status


def _start(study, method="bt500_zscore", **kwargs):
    return services.analysis_run_start(
        study=study, method=method, parameters=kwargs.pop("parameters", {}), enqueue=False, **kwargs
    )


def _read(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()


def _file(run: AnalysisRun, relative: str) -> str:
    return f"{run.storage_dir}/{relative}"


def _local_path(name: str) -> str:
    return default_storage.path(name)


@pytest.fixture
def rated(db):
    """8 stimuli rated by 10 raters, the last 2 of whom answer at random."""
    return rated_study_create(stimuli=8, raters=10, spammers=2, seed=0)


@pytest.fixture
def done_run(rated):
    study, _items, _people = rated
    run = _start(study)
    assert services.analysis_run_execute(run_id=run.id) == "done"
    run.refresh_from_db()
    return run


# --------------------------------------------------------------------------- the files


def test_execute_writes_mat_files_that_load_as_public_loaders_do(done_run) -> None:
    labels = scipy.io.loadmat(_local_path(_file(done_run, "DATA/MOS/mosz1.mat")))["MOSz"]
    sd = scipy.io.loadmat(_local_path(_file(done_run, "DATA/STD/SD3.mat")))["SD"]

    assert labels.shape == (8, 1)
    assert labels.dtype == np.float64
    assert sd.shape == (8, 1)
    values = [labels[item][0] for item in range(8)]
    # planted truth rises with the position: so does the MOS (rank correlation)
    assert np.corrcoef(np.argsort(np.argsort(values)), np.arange(8))[0, 1] > 0.9
    assert min(values) > 0
    assert max(values) < 100


def test_execute_writes_every_file_and_a_zip_of_them(done_run) -> None:
    expected = {
        "DATA/MOS/mosz1.mat",
        "DATA/MOS/mosz2.mat",
        "DATA/MOS/mosz3.mat",
        "DATA/STD/SD1.mat",
        "DATA/STD/SD2.mat",
        "DATA/STD/SD3.mat",
        "moz1.txt",
        "moz2.txt",
        "moz3.txt",
        "mos.csv",
        "raters.csv",
        "raw_ratings.csv",
        "analysis.json",
    }
    names = {f.removeprefix(done_run.storage_dir + "/") for f in done_run.files}
    assert expected <= names
    assert "plots/screening.png" in names
    with zipfile.ZipFile(io.BytesIO(_read(_file(done_run, done_run.zip_name)))) as zf:
        assert set(zf.namelist()) == names - {done_run.zip_name}
        assert zf.read("moz1.txt") == _read(_file(done_run, "moz1.txt"))


def test_mos_csv_has_one_row_per_stimulus_in_position_order(done_run, rated) -> None:
    _study, items, _people = rated
    rows = list(csv.DictReader(io.StringIO(_read(_file(done_run, "mos.csv")).decode())))

    assert [int(r["position"]) for r in rows] == [s.position for s in items]
    assert rows[0]["stimulus"] == items[0].name
    assert rows[0]["model"] == "model-a"
    assert rows[0]["scene"] == "scene-0"
    moz = _read(_file(done_run, "moz1.txt")).decode().split()
    assert [float(r["quality_mos"]) for r in rows] == [float(v) for v in moz]
    assert {"quality_ci_low", "correspondence_n", "authenticity_sd_raw"} <= set(rows[0])


def test_raw_ratings_and_raters_use_pseudonymous_codes(done_run, rated) -> None:
    _study, _items, people = rated
    raw = list(csv.DictReader(io.StringIO(_read(_file(done_run, "raw_ratings.csv")).decode())))
    raters = list(csv.DictReader(io.StringIO(_read(_file(done_run, "raters.csv")).decode())))

    assert len(raw) == 8 * 10 * 3
    assert {r["rater"] for r in raw} == {p.code for p in people}
    assert not any(p.external_id in _read(_file(done_run, "raw_ratings.csv")).decode() for p in people)
    assert len(raters) == 10 * 3


def test_summary_records_counts_rejections_reliability_and_timings(done_run, rated) -> None:
    _study, _items, _people = rated
    s = done_run.summary

    assert s["counts"] == {
        "stimuli": 8,
        "raters": 10,
        "ratings": 240,
        "perspectives": 3,
        "quality_control_excluded": 0,
    }
    quality = s["perspectives"][0]
    assert quality["key"] == "quality"
    assert quality["d"] == 1
    assert 0.5 < quality["reliability"]["split_half"]["mean_r"] <= 1
    assert quality["reliability"]["rater_vs_rest"]["n_raters"] == 10
    assert {"load", "write", "plots", "zip", "store", "total"} <= set(done_run.timings)
    assert done_run.input_fingerprint
    assert done_run.progress == 1.0
    assert done_run.finished_at
    doc = json.loads(_read(_file(done_run, "analysis.json")))
    assert doc["input_fingerprint"] == done_run.input_fingerprint
    assert doc["method"] == "bt500_zscore"
    assert doc["options"]["exclude_qc_failures"] is True


def test_rejected_raters_are_marked_excluded_and_kept_ones_cleared(rated) -> None:
    # given a study whose random raters get rejected, and an honest rater excluded by an old run
    study, _items, people = rated
    Participant.objects.filter(pk=people[0].pk).update(excluded_reason="analysis: old")
    run = _start(study)

    services.analysis_run_execute(run_id=run.id)

    run.refresh_from_db()
    rejected = {r["rater"] for r in run.summary["rejected_raters"]}
    assert rejected, run.summary["rejected_raters"]
    assert rejected <= {p.code for p in people[8:]}, run.summary["rejected_raters"]
    reasons = dict(Participant.objects.filter(study=study).values_list("code", "excluded_reason"))
    assert {code for code, reason in reasons.items() if reason} == rejected
    assert all(reasons[c].startswith("analysis: screening") for c in rejected)
    assert reasons[people[0].code] == ""


def test_new_exclusions_enqueue_the_allocation_recount_after_commit(
    rated, django_capture_on_commit_callbacks
) -> None:
    # given a study whose random raters get rejected
    study, _items, _people = rated
    run = _start(study)

    # when the run finishes (the recount is published after commit, here captured)
    with django_capture_on_commit_callbacks() as callbacks:
        services.analysis_run_execute(run_id=run.id)

    # then one recount of this study is published, by id
    assert Participant.objects.filter(study=study).exclude(excluded_reason="").exists()
    recounts = [c for c in callbacks if "stimulus_loads_recount_enqueue" in repr(c)]
    assert len(recounts) == 1
    # and a second run with the same exclusions changes nothing and publishes nothing
    with django_capture_on_commit_callbacks() as callbacks:
        services.analysis_run_execute(run_id=_start(study).id)
    assert not [c for c in callbacks if "stimulus_loads_recount_enqueue" in repr(c)]


@pytest.mark.parametrize("pilot_only", [False, True], ids=["include-pilot", "pilot-only"])
def test_a_pilot_including_run_never_changes_real_exclusions(
    rated, pilot_only, django_capture_on_commit_callbacks
) -> None:
    # given real exclusions set by an analysis of real data, and a pilot participant
    study, _items, people = rated
    services.analysis_run_execute(run_id=_start(study).id)
    before = dict(Participant.objects.filter(study=study).values_list("pk", "excluded_reason"))
    assert any(before.values())
    Participant.objects.filter(pk=people[1].pk).update(is_pilot=True)
    RatingSession.objects.filter(participant=people[1]).update(is_pilot=True)

    # when a newer run that includes pilot data rejects nobody (plain MOS)
    run = services.analysis_run_start(
        study=study, method="mos", include_pilot=True, pilot_only=pilot_only, enqueue=False
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.analysis_run_execute(run_id=run.id) == "done"

    # then it is labelled as pilot-including and leaves the exclusions and allocation alone
    run.refresh_from_db()
    assert run.pilot_included
    assert json.loads(_read(_file(run, "analysis.json")))["pilot_included"] is True
    assert dict(Participant.objects.filter(study=study).values_list("pk", "excluded_reason")) == before
    assert not [c for c in callbacks if "stimulus_loads_recount_enqueue" in repr(c)]


def test_an_older_run_finishing_last_does_not_overwrite_exclusions(rated) -> None:
    study, _items, _people = rated
    older, newer = _start(study, method="mos"), _start(study)
    services.analysis_run_execute(run_id=newer.id)
    excluded = set(
        Participant.objects.filter(study=study).exclude(excluded_reason="").values_list("pk", flat=True)
    )

    services.analysis_run_execute(run_id=older.id)  # plain MOS rejects nobody

    assert excluded
    assert (
        set(Participant.objects.filter(study=study).exclude(excluded_reason="").values_list("pk", flat=True))
        == excluded
    )


def test_qc_failures_are_excluded_and_reported(db) -> None:
    # given three careful participants and one who fails gold and straight-lining
    study = make_study(tests=6, gold=1, stimuli_per_session=5, gold_per_session=1, check_straightlining=True)
    keys = list(answer_all(study))
    for _ in range(3):
        answer_trials(enter(study), lambda t: {k: 4 if t.kind == "gold" else 1 + t.index % 5 for k in keys})
    failed = gold_and_straightlining_failure(study)
    reason = "quality control: " + "; ".join(f.describe() for f in qc.failures_from_json(failed.qc_failures))
    run = _start(study, method="mos")

    # when
    services.analysis_run_execute(run_id=run.id)

    # then
    run.refresh_from_db()
    assert run.summary["quality_control_excluded"] == [{"rater": failed.participant.code, "reason": reason}]
    assert run.summary["counts"]["raters"] == 3
    assert Participant.objects.get(pk=failed.participant_id).excluded_reason == reason


# --------------------------------------------------------------------------- idempotency and snapshot


def test_executing_a_done_run_again_does_nothing(done_run) -> None:
    before = {f: _read(f) for f in done_run.files}
    finished = done_run.finished_at

    assert services.analysis_run_execute(run_id=done_run.id) == "skipped"

    done_run.refresh_from_db()
    assert done_run.finished_at == finished
    assert done_run.attempts == 1
    assert {f: _read(f) for f in done_run.files} == before


def test_a_second_run_on_the_same_ratings_writes_the_same_files(done_run, rated) -> None:
    study, _items, _people = rated
    again = _start(study)
    services.analysis_run_execute(run_id=again.id)
    again.refresh_from_db()

    assert again.input_fingerprint == done_run.input_fingerprint
    for rel in ("moz3.txt", "mos.csv", "raters.csv", "raw_ratings.csv"):
        assert _read(_file(again, rel)) == _read(_file(done_run, rel)), rel
    # scipy stamps .mat headers with the time of writing: compare the contents
    for rel, var in (("DATA/MOS/mosz1.mat", "MOSz"), ("DATA/STD/SD2.mat", "SD")):
        a = scipy.io.loadmat(_local_path(_file(again, rel)))[var]
        b = scipy.io.loadmat(_local_path(_file(done_run, rel)))[var]
        np.testing.assert_array_equal(a, b)
    a = json.loads(_read(_file(done_run, "analysis.json")))
    b = json.loads(_read(_file(again, "analysis.json")))
    assert {k: v for k, v in a.items() if k != "run"} == {k: v for k, v in b.items() if k != "run"}


def test_new_ratings_never_change_an_old_run(done_run, rated) -> None:
    study, items, _people = rated
    before = {f: _read(f) for f in done_run.files}
    ratings_add(
        RatingSessionFactory(participant__study=study),
        {s: {"quality": 1.0, "authenticity": 1.0, "correspondence": 1.0} for s in items},
    )
    newer = _start(study)
    services.analysis_run_execute(run_id=newer.id)
    newer.refresh_from_db()

    assert {f: _read(f) for f in done_run.files} == before
    assert newer.input_fingerprint != done_run.input_fingerprint
    assert newer.summary["counts"]["raters"] == 11


def test_a_pending_run_ignores_ratings_given_after_it_started(rated) -> None:
    study, items, _people = rated
    run = _start(study)
    ratings_add(RatingSessionFactory(participant__study=study), {s: {"quality": 1.0} for s in items})

    services.analysis_run_execute(run_id=run.id)

    run.refresh_from_db()
    assert run.summary["counts"]["ratings"] == 240


# --------------------------------------------------------------------------- claims


def test_a_run_held_by_a_live_worker_is_not_claimed_again(rated) -> None:
    study, _items, _people = rated
    run = _start(study)
    assert services.analysis_run_claim(run_id=run.id)

    assert services.analysis_run_execute(run_id=run.id) == "skipped"
    run.refresh_from_db()
    assert run.status == Status.RUNNING
    assert run.attempts == 1


def test_a_run_left_running_by_a_dead_worker_is_claimed_again_and_completes_once(rated) -> None:
    # given a run claimed by a worker that died: its heartbeat stopped long ago
    study, _items, _people = rated
    run = _start(study)
    dead_token = services.analysis_run_claim(run_id=run.id)
    AnalysisRun.objects.filter(pk=run.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    # when the task is delivered again
    outcome = services.analysis_run_execute(run_id=run.id)

    # then it is computed once, and the dead worker, were it to wake up, can write nothing
    run.refresh_from_db()
    assert outcome == "done"
    assert run.status == Status.DONE
    assert run.attempts == 2
    with pytest.raises(ClaimLost):
        services._progress(run.id, dead_token, 0.5, "zombie")
    assert services.analysis_run_execute(run_id=run.id) == "skipped"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_executions_compute_the_run_once() -> None:
    study, _items, _people = rated_study_create(stimuli=4, raters=4)
    run = _start(study)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def execute() -> None:
        try:
            barrier.wait()
            outcomes.append(services.analysis_run_execute(run_id=run.id))
        finally:
            connection.close()

    threads = [threading.Thread(target=execute) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    run.refresh_from_db()
    assert sorted(outcomes) == ["done", "skipped"]
    assert run.status == Status.DONE
    assert run.attempts == 1


# --------------------------------------------------------------------------- failures


def test_a_study_without_ratings_fails_with_a_clear_message(db) -> None:
    study = StudyFactory()
    StimulusFactory(study=study)
    run = _start(study)

    assert services.analysis_run_execute(run_id=run.id) == "failed"

    run.refresh_from_db()
    assert run.status == Status.FAILED
    assert run.finished_at
    assert run.error == "There are no test ratings to analyse yet (pilot data is left out unless included)."
    assert run.files == []


def test_start_refuses_an_unknown_method_and_bad_parameters(rated) -> None:
    study, _items, _people = rated
    with pytest.raises(AnalysisRunInvalid, match="Unknown method 'nope'"):
        _start(study, method="nope")
    with pytest.raises(AnalysisRunInvalid, match="ci"):
        _start(study, parameters={"ci": 7})
    assert not AnalysisRun.objects.filter(study=study).exists()


def test_start_records_complete_parameters_and_the_snapshot(rated) -> None:
    study, _items, _people = rated
    run = _start(study, method="vote_outliers", parameters={"threshold": 2.5})

    assert run.status == Status.PENDING
    assert run.parameters == {"threshold": 2.5, "ci": 0.95}
    assert run.method_version == "1.0"
    assert run.rating_id_max == study.sessions.first().ratings.model.objects.order_by("-id").first().id


def test_start_enqueues_after_commit(rated, django_capture_on_commit_callbacks) -> None:
    study, _items, _people = rated
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.analysis_run_start(study=study, method="mos")

    assert len(callbacks) == 1
    run.refresh_from_db()
    assert run.enqueued_at is None  # nothing is published before the commit


@pytest.fixture
def broker_down():
    """Point the Celery app at a port where no broker listens; restore it afterwards."""
    from config.celery import app

    saved = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.broker_url = saved
    app._pool = None
    app.amqp._producer_pool = None


def test_start_with_the_broker_down_keeps_the_run_pending_and_says_so(
    rated, broker_down, django_capture_on_commit_callbacks
) -> None:
    study, _items, _people = rated
    with (
        pytest.raises(JobQueueUnavailable, match="job queue is unavailable") as exc,
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.analysis_run_start(study=study, method="mos")

    run = AnalysisRun.objects.get(pk=exc.value.run_id)
    assert run.status == Status.PENDING
    assert run.enqueued_at is None
    assert "job queue" in run.progress_message


def test_sweep_enqueues_forgotten_pending_and_stale_running_runs(rated) -> None:
    study, _items, _people = rated
    old = timezone.now() - timedelta(hours=1)
    forgotten, _fresh, stale, live = (_start(study) for _ in range(4))
    AnalysisRun.objects.filter(pk=forgotten.pk).update(created_at=old)
    AnalysisRun.objects.filter(pk__in=[stale.pk, live.pk]).update(
        status=Status.RUNNING, heartbeat_at=timezone.now()
    )
    AnalysisRun.objects.filter(pk=stale.pk).update(heartbeat_at=old)

    enqueued = services.analysis_runs_sweep()

    assert enqueued == [forgotten.pk, stale.pk]
    assert AnalysisRun.objects.get(pk=forgotten.pk).enqueued_at is not None
