"""The trial page builds its image URLs with one reversal per request: the same URLs as
Stimulus.image_url, for every extension and under a script prefix."""

import pytest
from django.urls import clear_script_prefix, set_script_prefix

from ratings.selectors import session_trials, stimulus_image_urls, trial_payload
from tests.ratings.conftest import enter, make_study

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("prefix", ["/", "/study-app/"])
def test_the_page_image_urls_are_those_of_the_stimuli(prefix: str) -> None:
    # given stimuli stored as PNG, JPEG, WebP (extensions as uploaded), in a session
    study = make_study(tests=4, prompts=4, stimuli_per_session=4)
    names = ["a.png", "b.jpeg", "c.webp", "d.PNG"]
    for stimulus, name in zip(study.stimuli.order_by("pk"), names, strict=True):
        stimulus.image.name = f"stimuli/x/{name}"
        stimulus.save(update_fields=["image"])
    session = enter(study)
    set_script_prefix(prefix)
    try:
        # when the page's payloads are built
        rows = list(session_trials(session=session))
        fast = [trial_payload(t, stimulus_image_urls()) for t in rows]
        # then each is the payload the model's own URL gives
        slow = [trial_payload(t) for t in rows]
    finally:
        clear_script_prefix()
    assert fast == slow
    assert {p["url"].rsplit(".", 1)[-1] for p in fast} == {"png", "jpeg", "webp", "PNG"}
    assert all(p["url"].startswith(prefix) for p in fast)
