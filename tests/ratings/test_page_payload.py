"""The trial page reads its trials as plain values (page_trials) and builds its image URLs with one
reversal per request: the same payloads as trial_payload of the models, for every extension,
training references included, and under a script prefix."""

import pytest
from django.urls import clear_script_prefix, set_script_prefix

from ratings.selectors import image_url_builder, page_payload, page_trials, session_trials, trial_payload
from tests.ratings.conftest import enter, make_study

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("prefix", ["/", "/study-app/"])
def test_the_page_image_urls_are_those_of_the_stimuli(prefix: str) -> None:
    # given stimuli stored as PNG, JPEG, WebP (extensions as uploaded), in a session
    # (and two training images with reference answers, one gold image whose reference stays hidden)
    study = make_study(tests=4, prompts=4, stimuli_per_session=4, training=2, gold=1, gold_per_session=1)
    names = ["a.png", "b.jpeg", "c.webp", "d.PNG"]
    for stimulus, name in zip(study.stimuli.order_by("pk")[:4], names, strict=True):
        stimulus.image.name = f"stimuli/x/{name}"
        stimulus.save(update_fields=["image"])
    session = enter(study)
    set_script_prefix(prefix)
    try:
        # when the page's payloads are built
        url = image_url_builder()
        fast = [page_payload(t, url) for t in page_trials(session=session)]
        # then each is the payload the models and their own URLs give
        slow = [trial_payload(t) for t in session_trials(session=session)]
    finally:
        clear_script_prefix()
    assert fast == slow
    assert [p["kind"] for p in fast].count("training") == 2
    assert all(p.get("reference") == {"quality": 4} for p in fast if p["kind"] == "training")
    assert [p for p in fast if p["kind"] == "gold" and "reference" not in p]
    assert {p["url"].rsplit(".", 1)[-1] for p in fast} == {"png", "jpeg", "webp", "PNG"}
    assert all(p["url"].startswith(prefix) for p in fast)
