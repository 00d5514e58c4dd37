"""The pilot's allocation comparison: the whole study in balanced and in precision allocation."""

import time
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from experiments.models import Study
from pilot import modes, services, simulator
from pilot.models import PilotRun
from tests.ratings.conftest import make_study


def wait_finished(run: PilotRun, timeout: float = 180) -> PilotRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_finished:
            return run
        time.sleep(0.3)
    raise AssertionError(f"pilot still {run.status}: {run.progress_message}")


def mixed_difficulty_study() -> Study:
    """40 test images, 20 per session, precision bounds 5..40 and a 0.4-point target."""
    study = make_study(tests=40, prompts=10, stimuli_per_session=20, target_ratings=10)
    Study.objects.filter(pk=study.pk).update(precision_min_ratings=5, precision_max_ratings=40)
    study.perspectives.update(target_half_width=0.4)
    study.refresh_from_db()
    return study


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_pilot_compares_balanced_and_precision_allocation_and_reports_the_saving(
    live_server: Any, celery_worker: Any, client: Client
) -> None:
    # given a study whose images differ in difficulty
    study = mixed_difficulty_study()

    # when the researcher runs a pilot that also compares the allocation modes (through the worker)
    run = services.pilot_run_start(
        study=study,
        raters=6,
        base_url=live_server.url,
        seed=11,
        spammers=0.1,
        straightliners=0.0,
        abandoners=0.05,
        noise=0.5,
        difficulty=0.6,
        compare_modes=True,
    )
    run = wait_finished(run)

    # then precision allocation needs fewer valid ratings than balanced for the same accuracy
    assert run.status == PilotRun.Status.DONE, run.error
    m = run.report["modes"]
    balanced, precise = m["modes"]["balanced"], m["modes"]["precision"]
    assert m["images"] == 40
    assert m["target_half_width"] == [0.4] * study.perspectives.count()
    assert not m["target_default"]
    assert precise["valid"] < balanced["valid"]
    assert m["saving"] > 0.15, m["saving"]
    # and the figures agree with each other
    assert m["ratings_saved"] == balanced["valid"] - precise["valid"]
    assert m["saving"] == pytest.approx(1 - precise["valid"] / balanced["valid"])
    assert m["saving_percent"] == round(100 * m["saving"], 1)
    for r in (balanced, precise):
        assert sum(r["counts"]) == r["valid"] <= r["answered"] <= r["sessions"] * m["per_session"]
        assert r["ratings_per_image"]["min"] == min(r["counts"])
        assert r["ratings_per_image"]["max"] == max(r["counts"])
        assert r["p95"] == max(k["p95"] for k in r["perspectives"])
        assert r["pearson"] > 0.9, r
        assert 0 < r["rmse"] < 0.5, r
        assert r["trace"][-1][0] == r["valid"]
    # balanced ran until it was as accurate as precision, and no image ended below the minimum
    assert balanced["stopped"] == modes.TARGET_MET
    assert balanced["p95"] <= max(m["matched_p95"]) + 1e-9
    assert min(precise["counts"]) >= m["minimum"]
    # precision put more ratings on the harder images than on the easy ones
    hard = sorted(range(40), key=lambda i: m["difficulty_of"][i])
    easy_half, hard_half = hard[:20], hard[20:]
    assert sum(precise["counts"][i] for i in hard_half) > sum(precise["counts"][i] for i in easy_half)
    # and the report page shows the table and the figure
    client.force_login(study.owner)
    page = client.get(reverse("pilot:detail", args=[study.slug, run.pk])).content.decode()
    assert 'id="modes-table"' in page
    assert f"{m['saving_percent']}" in page
    plot = client.get(reverse("pilot:modes-plot", args=[study.slug, run.pk]))
    assert plot.status_code == 200
    assert b"".join(plot.streaming_content).startswith(b"\x89PNG")

    # when the pilot data is removed, its comparison figure goes too
    services.pilot_data_remove(study=study)
    assert not default_storage.exists(m["plot"])


def test_the_comparison_fills_missing_targets_and_is_reproducible() -> None:
    # given a small design and a population with mixed image difficulty
    scale = simulator.Scale("integer", 1, 5)
    target, default_used = modes.target_for([None, 0.5], scale, 4, 30)
    design = modes.Design(tuple(range(500, 524)), ("quality", "authenticity"), scale, 12, target)
    population = simulator.Population(
        seed=3, spammers=0.1, straightliners=0.0, abandoners=0.0, difficulty=0.6
    )

    # when it is compared twice
    first, second = modes.compare(design, population), modes.compare(design, population)

    # then the default target fills the perspective without one, and the runs repeat exactly
    assert default_used
    assert first["target_half_width"] == [0.4, 0.5]
    assert first["modes"]["precision"]["counts"] == second["modes"]["precision"]["counts"]
    assert first["saving"] == second["saving"]


def test_image_difficulty_is_one_for_every_image_without_a_spread() -> None:
    assert {simulator.planted_difficulty(1, pk, 0.0) for pk in range(50)} == {1.0}
    spread = [simulator.planted_difficulty(1, pk, 0.6) for pk in range(400)]
    assert min(spread) < 0.6 < 1.7 < max(spread)
