"""One factory per model. Images are real PNGs made with Pillow."""

import io
from typing import Any

import factory
from django.contrib.auth import get_user_model
from PIL import Image

from experiments.models import Stimulus, Study
from experiments.services import stimulus_create, study_create
from ratings.models import Participant, RatingSession


def png_bytes(colour: tuple[int, int, int] = (120, 60, 30), size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-123456")


class StudyFactory(factory.django.DjangoModelFactory):
    """A draft study with the AIGCIQA2023 preset perspectives (through the service)."""

    class Meta:
        model = Study

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Study {n}")
    slug = factory.Sequence(lambda n: f"study-{n}")

    @classmethod
    def _create(cls, model_class: type[Study], *args: Any, **kwargs: Any) -> Study:
        return study_create(**kwargs)


class StimulusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stimulus

    study = factory.SubFactory(StudyFactory)
    name = factory.Sequence(lambda n: f"img-{n}.png")
    prompt = factory.Sequence(lambda n: f"prompt number {n}")
    generator = "model-a"
    role = Stimulus.Role.TEST

    @classmethod
    def _create(cls, model_class: type[Stimulus], *args: Any, **kwargs: Any) -> Stimulus:
        n = StimulusFactory._counter_value()
        data = kwargs.pop("data", None) or png_bytes(((n * 37) % 256, (n * 91) % 256, (n * 13) % 256))
        return stimulus_create(data=data, **kwargs)

    @staticmethod
    def _counter_value() -> int:
        StimulusFactory._n = getattr(StimulusFactory, "_n", 0) + 1
        return StimulusFactory._n


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    study = factory.SubFactory(StudyFactory)
    panel = Study.Panel.GENERIC
    external_id = factory.Sequence(lambda n: f"pid-{n}")


class RatingSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RatingSession

    participant = factory.SubFactory(ParticipantFactory)
    study = factory.SelfAttribute("participant.study")
