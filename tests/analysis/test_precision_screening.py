"""The periodic re-screening of precision studies: a real analysis whenever new ratings arrived."""

import pytest

from analysis import services
from analysis.models import AnalysisRun
from analysis.stats import DEFAULT_METHOD
from tests.ratings.conftest import answer_all, answer_trials, enter, make_study, precision_study

pytestmark = pytest.mark.django_db


def test_open_precision_studies_with_new_ratings_get_one_real_analysis_at_a_time() -> None:
    # given a precision study and a balanced one, both with ratings
    study = precision_study(minimum=3, maximum=6, tests=6, stimuli_per_session=3)
    balanced = make_study(tests=4, stimuli_per_session=2)
    for s in (study, balanced):
        answer_trials(enter(s), lambda trial, s=s: answer_all(s, 3))
        answer_trials(enter(s), lambda trial, s=s: answer_all(s, 4))

    # when the periodic job runs: one real run of the precision study with the default method
    started = services.precision_screenings_start()
    assert len(started) == 1
    run = AnalysisRun.objects.get(pk=started[0])
    assert (run.study_id, run.method, run.include_pilot) == (study.pk, DEFAULT_METHOD, False)
    # while it waits, no second one
    assert services.precision_screenings_start() == []

    # once it is done, nothing new until new ratings arrive
    assert services.analysis_run_execute(run_id=run.pk) == "done"
    assert services.precision_screenings_start() == []
    answer_trials(enter(study), lambda trial: answer_all(study, 2))
    again = services.precision_screenings_start()
    assert len(again) == 1
    assert AnalysisRun.objects.get(pk=again[0]).rating_id_max > run.rating_id_max
    assert not AnalysisRun.objects.filter(study=balanced).exists()
