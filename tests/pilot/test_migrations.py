"""Moving PilotRun from `ratings` to `pilot` keeps the pilots a database already holds."""

from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from pilot.models import PilotRun
from tests.factories import StudyFactory

BEFORE_MOVE = [("ratings", "0010_stimulus_sums"), ("pilot", None)]


def migrate(targets: list[tuple[str, str | None]]) -> Any:
    """Migrate to `targets` and return the apps of the state reached."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def latest() -> list[tuple[str, str | None]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_migrating_forward_keeps_a_pilot_run_saved_under_ratings_and_its_content_type() -> None:
    # given a study, and a database from before the move that holds one finished pilot of it
    study = StudyFactory()
    try:
        old_apps = migrate(BEFORE_MOVE)
        OldPilotRun = old_apps.get_model("ratings", "PilotRun")
        old = OldPilotRun.objects.create(
            study_id=study.pk,
            raters=12,
            seed=7,
            base_url="http://127.0.0.1:8000",
            status="done",
            planted=[{"index": 0, "kind": "honest"}],
            report={"method": "mos", "perspectives": []},
            plot="pilot/x/pilot-1/recovered-vs-true.png",
        )
        ContentType.objects.get_or_create(app_label="ratings", model="pilotrun")
        ContentType.objects.filter(app_label="pilot").delete()

        # when the migrations run forward
        migrate(latest())
    finally:
        migrate(latest())  # whatever happened, leave the test database at the latest state

    # then the run is the same row under the pilot app, on its new table
    run = PilotRun.objects.get(pk=old.pk)
    assert (run.study_id, run.raters, run.seed, run.status) == (study.pk, 12, 7, PilotRun.Status.DONE)
    assert run.planted == [{"index": 0, "kind": "honest"}]
    assert run.report["method"] == "mos"
    assert PilotRun._meta.db_table == "pilot_pilotrun"
    assert "ratings_pilotrun" not in connection.introspection.table_names()
    # and its content type moved with it (permissions on it stay attached)
    assert ContentType.objects.filter(app_label="pilot", model="pilotrun").exists()
    assert not ContentType.objects.filter(app_label="ratings", model="pilotrun").exists()
    # and new runs get new ids after the old one
    new = PilotRun.objects.create(study=study, raters=1, base_url="http://127.0.0.1:8000")
    assert new.pk > old.pk


@pytest.mark.django_db(transaction=True)
def test_migrating_back_returns_the_pilot_runs_to_the_ratings_table() -> None:
    # given a pilot saved under the pilot app
    run = PilotRun.objects.create(study=StudyFactory(), raters=3, base_url="http://127.0.0.1:8000")
    try:
        # when the move is undone
        old_apps = migrate(BEFORE_MOVE)

        # then the row is back where the old code reads it
        assert old_apps.get_model("ratings", "PilotRun").objects.filter(pk=run.pk, raters=3).exists()
        assert "ratings_pilotrun" in connection.introspection.table_names()
    finally:
        migrate(latest())
    assert PilotRun.objects.filter(pk=run.pk).exists()
