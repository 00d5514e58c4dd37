"""The results page shows, per image, the heatmap overlay and the word counts of the rich feedback
(issue 17), from marks sent through the real submission path."""

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from analysis import services
from pilot import rich, simulator
from ratings.models import RatingSession
from ratings.selectors import trial_payload
from ratings.services import rating_submit
from tests.ratings.conftest import enter

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
SCREENSHOTS.mkdir(parents=True, exist_ok=True)


def _mark_demo(study, raters: int) -> None:
    """Participants who answer every trial, scores and marks, as the pilot's honest raters do."""
    annotate = rich.annotator(study, seed=5)
    assert annotate is not None
    for k in range(raters):
        session = enter(study, pid=f"marker-{k}")
        RatingSession.objects.filter(pk=session.pk).update(status=RatingSession.Status.RATING)
        rater = simulator.Rater(k, simulator.HONEST, 0.0, 0.4, None, 0.5)
        keys = list(study.perspectives.values_list("key", flat=True))
        for trial in session.trials.select_related("stimulus").order_by("index"):
            rating_submit(
                token=session.token,
                trial_index=trial.index,
                scores=dict.fromkeys(keys, 1 + (trial.stimulus.position + k) % 5),
                annotations=annotate(rater, trial_payload(trial)),
                idempotency_key=uuid.uuid4(),
            )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_results_page_shows_overlays_and_word_counts_per_image(
    live_server, rich_demo_study, researcher, page: Page
):
    # given the demo marked by 12 participants (each sees 10 of the 30 images) and analysed
    _mark_demo(rich_demo_study, raters=12)
    run = services.analysis_run_start(study=rich_demo_study, method="bt500_zscore", enqueue=False)
    assert services.analysis_run_execute(run_id=run.id) == "done"

    # when its owner opens the run
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/?next=/analysis/runs/{run.pk}/")
    page.fill("input[name=username]", "researcher")
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")

    # then the rich-feedback card shows 30 images with a loaded overlay and their prompt words
    card = page.locator("#rich-feedback")
    expect(card).to_be_visible()
    expect(card.locator(".rich-image")).to_have_count(30)
    card.scroll_into_view_if_needed()
    page.wait_for_load_state("load")
    for img in card.locator(".rich-image img").all()[:6]:
        img.scroll_into_view_if_needed()
        expect(img).to_have_js_property("complete", True)
    loaded = page.eval_on_selector_all(
        "#rich-feedback .rich-image img", "imgs => imgs.slice(0, 6).map(i => i.naturalWidth)"
    )
    assert loaded == [512] * 6
    # the glitch image of the first scene (position 5) names "spoon", the word its image leaves out
    glitch = card.locator(".rich-image", has_text="000-6.png")
    expect(glitch.locator(".rich-words li")).to_have_count(11)
    words = glitch.locator(".rich-words li").all_inner_texts()
    assert any(w.startswith("spoon") for w in words)
    glitch.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "rich-results.png"), full_page=False)
    card.screenshot(path=str(SCREENSHOTS / "rich-results-card.png"))
