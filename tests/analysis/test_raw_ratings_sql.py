"""The analysis job's raw_ratings.csv, its lines made by PostgreSQL, has the same bytes as the
Python writer over raw_rating_rows (the reference, and the SQLite path), whatever the options."""

import io
import random
import uuid

import pytest

from analysis import exports, loaders
from experiments.models import Stimulus
from ratings.models import Participant, Rating, RatingSession
from ratings.services import (
    participant_enter,
    rating_submit,
    session_device_change,
    session_display_check_pass,
    session_language_set,
)
from tests.factories import StimulusFactory
from tests.ratings.conftest import answer_all, answer_trials, enter, make_study

pytestmark = [pytest.mark.django_db, pytest.mark.postgresql]


def python_text(study, **options) -> str:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    exports.write_raw_ratings(buf, loaders.raw_rating_rows(study, **options))
    return buf.getvalue()


def sql_text(study, **options) -> str:  # type: ignore[no-untyped-def]
    blocks = list(loaders.raw_ratings_csv_blocks(study, block_rows=7, **options))
    assert sum(n for n, _ in blocks) == len(list(loaders.raw_rating_rows(study, **options)))
    return ",".join(exports.RAW_COLUMNS) + "\n" + "".join(t for _, t in blocks)


def test_the_database_writes_the_same_bytes_as_the_python_writer() -> None:
    # given a continuous-scale study whose stimulus names need quoting and neutralising, with
    # gold trials and the straight-lining check, rated through the real paths: participants with
    # devices and a zoom change, another language, decimal scores, a quality-control failure,
    # a pilot participant and a participant with two panel sessions' worth of ratings
    study = make_study(
        tests=6,
        prompts=3,
        gold=1,
        gold_per_session=1,
        stimuli_per_session=4,
        check_straightlining=True,
        scale_kind="continuous",
        scale_min=0,
        scale_max=100,
    )
    odd = ['=SUM(A1),"x".png', "-minus.png", "line\nbreak.png", "@at, comma.png", "+plus.png", "ok é.png"]
    for stimulus, name in zip(
        Stimulus.objects.filter(study=study, role="test").order_by("pk"), odd, strict=True
    ):
        stimulus.name = name
        stimulus.save(update_fields=["name"])
    StimulusFactory(study=study, name="unused.png")
    rng = random.Random(3)
    for i in range(5):
        session = enter(study, pid=f"person,{i}" if i % 2 else f"=p{i}")
        device = {"viewport": [1280 + i, 720], "screen": [1920, 1080], "dpr": [1, 1.25, 2, 1.5, 3][i], "fits": True,
                  "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"}  # fmt: skip
        session_display_check_pass(session=session, device=device)
        if i == 1:
            session_device_change(session=session, device={**device, "dpr": 1.75})
        if i == 2:
            session_language_set(session=RatingSession.objects.get(pk=session.pk), language="de")
        answer_trials(session, lambda trial: dict.fromkeys(answer_all(study), round(rng.uniform(0, 100), 2)))
    failing = enter(study, pid="straight")
    answer_trials(failing, lambda trial: answer_all(study, 1))
    pilot = participant_enter(study=study, entry=failing_entry(study, "pilot-1"), consent=True, pilot=True)
    answer_trials(pilot, lambda trial: answer_all(study, 55))
    # a rating with no client time and one given in a whole second
    session = enter(study, pid="late")
    RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
    trial = session.trials.order_by("index").first()
    assert trial is not None
    rating_submit(
        token=session.token,
        trial_index=trial.index,
        scores=answer_all(study, 7),
        idempotency_key=uuid.uuid4(),
    )
    assert RatingSession.objects.filter(study=study).exclude(qc_failures=[]).exists()
    assert Participant.objects.filter(study=study, is_pilot=True).exists()

    # when the export is written both ways, with every combination of options that changes cells
    keys = list(study.perspectives.values_list("key", flat=True))
    cases = [
        {},
        {"include_pilot": True},
        {"pilot_only": True},
        {"include_panel_ids": True},
        {"exclude_qc_failures": False},
        {"perspectives": keys[:1]},
        {
            "rating_id_max": Rating.objects.filter(session__study=study)
            .order_by("id")
            .values_list("id", flat=True)[20]
        },
    ]
    for options in cases:
        reference = python_text(study, **options)
        # then the bytes are the same (and the case is not empty)
        assert sql_text(study, **options) == reference, options
        assert reference.count("\n") > 1, options
    assert "'=SUM(A1)" in python_text(study)
    assert '"line\nbreak.png"' in python_text(study)


def failing_entry(study, external):  # type: ignore[no-untyped-def]
    from ratings.panels import PanelEntry

    return PanelEntry(panel=study.panel, external_id=external, data={"pid": external})


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_export_reads_one_snapshot_and_the_same_bytes() -> None:
    # given a rated study, and no transaction open (as in the job's export thread)
    from django.db import connection

    study = make_study(tests=4, prompts=2, stimuli_per_session=4)
    for i in range(3):
        answer_trials(enter(study, pid=f"p{i}"), lambda trial, i=i: answer_all(study, 1 + i))
    assert not connection.in_atomic_block

    # when the database writes the file, then it is the Python writer's, and no transaction is left open
    assert sql_text(study) == python_text(study)
    assert not connection.in_atomic_block
