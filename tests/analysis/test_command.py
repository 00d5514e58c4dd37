import io
from datetime import timedelta

import pytest
import scipy.io
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from analysis.models import AnalysisRun
from tests.factories import rated_study_create

pytestmark = pytest.mark.django_db


def test_sync_run_computes_in_process_with_params() -> None:
    study, _items, _people = rated_study_create(stimuli=4, raters=4)
    out = io.StringIO()

    call_command(
        "analysis_run",
        study.slug,
        "--sync",
        "--method",
        "bt500_zscore",
        "--param",
        "screen=false",
        stdout=out,
    )

    run = AnalysisRun.objects.get(study=study)
    assert run.status == "done"
    assert run.parameters["screen"] is False
    assert f"run {run.pk} done: 4 stimuli, 4 raters" in out.getvalue()
    with default_storage.open(f"{run.storage_dir}/DATA/MOS/mosz1.mat") as fh:
        assert scipy.io.loadmat(fh)["MOSz"].shape == (4, 1)


def test_bad_method_and_unknown_study_fail_clearly() -> None:
    study, _items, _people = rated_study_create(stimuli=2, raters=2)
    with pytest.raises(CommandError, match="Unknown method 'nope'"):
        call_command("analysis_run", study.slug, "--sync", "--method", "nope")
    with pytest.raises(CommandError, match="no study with slug 'missing'"):
        call_command("analysis_run", "missing")
    assert not AnalysisRun.objects.exists()


def test_a_failing_sync_run_exits_with_the_error() -> None:
    from tests.factories import StimulusFactory, StudyFactory

    study = StudyFactory()
    StimulusFactory(study=study)
    with pytest.raises(CommandError, match="no test ratings"):
        call_command("analysis_run", study.slug, "--sync", stdout=io.StringIO())


def test_sweep_option_reenqueues_lost_runs() -> None:
    study, _items, _people = rated_study_create(stimuli=2, raters=2)
    run = AnalysisRun.objects.create(study=study, method="mos")
    AnalysisRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))
    out = io.StringIO()

    call_command("analysis_run", "--sweep", stdout=out)

    assert out.getvalue().strip() == f"re-enqueued 1 run(s): {run.pk}"
    assert AnalysisRun.objects.get(pk=run.pk).enqueued_at is not None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_wait_follows_a_run_in_the_real_worker(celery_worker) -> None:
    study, _items, _people = rated_study_create(stimuli=3, raters=3)
    out = io.StringIO()

    call_command("analysis_run", study.slug, "--wait", "--method", "mos", "--timeout", "60", stdout=out)

    assert AnalysisRun.objects.get(study=study).status == "done"
    assert "done: 3 stimuli, 3 raters" in out.getvalue()
