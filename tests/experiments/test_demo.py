import pytest
from django.core.files.storage import default_storage

from experiments.models import Stimulus, Study


@pytest.mark.django_db
def test_demo_study_is_open_with_three_perspectives_and_decodable_varied_images(demo_study: Study) -> None:
    assert demo_study.status == Study.Status.OPEN
    assert [p.key for p in demo_study.perspectives.all()] == ["quality", "authenticity", "correspondence"]
    test = demo_study.stimuli.filter(role=Stimulus.Role.TEST)
    assert test.count() == 25
    assert demo_study.stimuli.filter(role=Stimulus.Role.TRAINING).count() == 3
    assert not demo_study.annotation_tasks.exists()  # the plain demo fits a 1280 x 720 window
    # every variant of a prompt is a different image, and every file is stored
    assert len(set(test.values_list("sha256", flat=True))) == 25
    for stimulus in test:
        assert default_storage.exists(stimulus.image.name)
        assert (stimulus.width, stimulus.height) == (512, 512)


@pytest.mark.django_db
def test_demo_setup_command_is_idempotent(researcher) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    call_command("demo_setup", "--password", "pw-abcdef-123")
    call_command("demo_setup", "--password", "pw-abcdef-123")

    assert Study.objects.filter(slug__in=["demo", "demo-rich"]).count() == 2
    assert Study.objects.get(slug="demo").stimuli.count() == 28
    assert Study.objects.get(slug="demo-rich").stimuli.count() == 33


@pytest.mark.django_db
def test_demo_login_is_staff_and_sees_its_own_studies_in_the_admin(client) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    from tests.factories import StudyFactory

    call_command("demo_setup", "--password", "pw-abcdef-123")
    StudyFactory(title="Someone else's study")
    client.login(username="demo", password="pw-abcdef-123")

    changelist = client.get("/admin/experiments/study/")

    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert "Demo: AI-generated image quality" in html
    assert "Someone else" not in html


@pytest.mark.django_db
def test_demo_asks_for_rich_feedback_and_plants_an_artefact_and_a_missing_word(
    rich_demo_study: Study,
) -> None:
    from PIL import Image, ImageChops

    from analysis.stats.rich import tokenize_prompt

    assert [(t.kind, t.key) for t in rich_demo_study.annotation_tasks.order_by("order")] == [
        ("regions", "broken"),
        ("words", "missing"),
    ]
    glitches = rich_demo_study.stimuli.filter(metadata__variant="glitch").order_by("position")
    assert glitches.count() == 5
    for g in glitches:
        planted = g.metadata["planted"]
        tokens = tokenize_prompt(g.prompt)
        assert tokens[planted["missing_token"]] == planted["missing_word"]
        clean = rich_demo_study.stimuli.get(position=g.position - 5)  # the same scene's clean variant
        assert planted["missing_word"] not in tokenize_prompt(clean.prompt)
        # the glitch changes the picture inside the planted box and nowhere else
        with default_storage.open(g.image.name) as a, default_storage.open(clean.image.name) as b:
            diff = ImageChops.difference(Image.open(a).convert("RGB"), Image.open(b).convert("RGB"))
        x0, y0, x1, y1 = (round(v * 512) for v in planted["box"])
        left, top, right, bottom = diff.getbbox()
        assert (left, top) == (x0, y0)
        assert right <= x1
        assert bottom <= y1
