"""Study configuration: the trial-design lock, wording changes, perspectives and status changes."""

from typing import Any

import pytest

from experiments.exceptions import StudyError, StudyStatusError, TrialDesignLocked
from experiments.models import Study
from experiments.services import (
    study_close,
    study_create,
    study_launch,
    study_pause,
    study_update,
)
from tests.experiments.builders import add_ratings
from tests.factories import StimulusFactory, StudyFactory

pytestmark = pytest.mark.django_db


def perspectives_of(study: Study) -> list[dict[str, Any]]:
    return [
        {"key": p.key, "label": p.label, "question": p.question, "level_descriptions": p.level_descriptions}
        for p in study.perspectives.order_by("order")
    ]


@pytest.fixture
def rated_study() -> Study:
    study = StudyFactory()
    add_ratings(study, StimulusFactory(study=study), 1)
    return study


def test_new_study_has_the_aigciqa2023_preset_and_avoids_reserved_slugs(researcher: Any) -> None:
    study = study_create(owner=researcher, title="New")

    assert study.slug == "new-study"
    assert [p.key for p in study.perspectives.all()] == ["quality", "authenticity", "correspondence"]
    assert study.scale_labels == ["Bad", "Poor", "Fair", "Good", "Excellent"]


def test_design_change_of_a_study_with_ratings_is_refused_and_changes_nothing(rated_study: Study) -> None:
    with pytest.raises(TrialDesignLocked, match="already has ratings.*scale_max, stimuli_per_session"):
        study_update(study=rated_study, fields={"stimuli_per_session": 5, "scale_max": 7, "title": "Renamed"})

    rated_study.refresh_from_db()
    assert (rated_study.stimuli_per_session, rated_study.scale_max, rated_study.title) == (
        20,
        5,
        rated_study.title,
    )
    assert rated_study.title != "Renamed"


def test_removing_a_perspective_of_a_study_with_ratings_is_refused(rated_study: Study) -> None:
    with pytest.raises(TrialDesignLocked, match="perspectives"):
        study_update(study=rated_study, fields={}, perspectives=perspectives_of(rated_study)[:2])

    assert rated_study.perspectives.count() == 3


def test_wording_fixes_stay_allowed_with_ratings_and_consent_changes_bump_the_version(
    rated_study: Study,
) -> None:
    wording = perspectives_of(rated_study)
    wording[0]["question"] = "How sharp and detailed is the image?"
    wording[1]["label"] = "Realism"

    study = study_update(
        study=rated_study,
        fields={
            "title": "Fixed title",
            "consent_text": "New consent",
            "scale_labels": ["1", "2", "3", "4", "5"],
            "target_ratings": 25,
        },
        perspectives=wording,
    )

    assert (study.title, study.consent_version, study.target_ratings) == ("Fixed title", 2, 25)
    assert study.perspectives.get(key="quality").question == "How sharp and detailed is the image?"
    assert study.perspectives.get(key="authenticity").label == "Realism"


def test_without_ratings_perspectives_can_be_reordered_removed_and_added() -> None:
    study = StudyFactory()
    current = perspectives_of(study)
    new = [
        current[2],
        current[0],
        {"key": "aesthetics", "label": "Aesthetics", "question": "How beautiful?", "level_descriptions": []},
    ]

    study_update(study=study, fields={}, perspectives=new)

    assert [p.key for p in study.perspectives.order_by("order")] == [
        "correspondence",
        "quality",
        "aesthetics",
    ]


def test_scale_labels_must_match_the_number_of_levels() -> None:
    study = StudyFactory()

    with pytest.raises(StudyError, match="7 levels but 5 labels"):
        study_update(
            study=study,
            fields={"scale_max": 7},
            perspectives=[{**p, "level_descriptions": []} for p in perspectives_of(study)],
        )


def test_a_study_needs_a_perspective() -> None:
    with pytest.raises(StudyError, match="at least one perspective"):
        study_update(study=StudyFactory(), fields={}, perspectives=[])


def test_launch_pause_resume_close() -> None:
    study = StudyFactory()
    with pytest.raises(StudyError, match="Import test stimuli"):
        study_launch(study=study)
    StimulusFactory(study=study)

    assert study_launch(study=study).status == Study.Status.OPEN
    assert study_pause(study=study).status == Study.Status.PAUSED
    assert study_launch(study=study).status == Study.Status.OPEN
    assert study_close(study=study).status == Study.Status.CLOSED
    with pytest.raises(StudyStatusError, match="closed cannot be launched"):
        study_launch(study=study)
