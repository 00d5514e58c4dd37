import pytest

from analysis import services
from tests.factories import UserFactory, rated_study_create


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def other(db):
    return UserFactory(username="other-researcher")


@pytest.fixture
def study_with_run(owner):
    """A small rated study of `owner` and one done run of it."""
    study, _items, _people = rated_study_create(owner=owner, stimuli=4, raters=4)
    run = services.analysis_run_start(study=study, method="mos", enqueue=False)
    services.analysis_run_execute(run_id=run.id)
    run.refresh_from_db()
    return study, run
