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


# --- Rated studies for the analysis tests (appended by the analysis helper) -------------------
def ratings_add(
    session: RatingSession,
    scores: dict[Any, dict[str, float]],
    *,
    kind: str = "test",
    start_index: int = 0,
    repetition: int = 0,
) -> list[Any]:
    """Store one trial per stimulus of `scores` ({stimulus: {perspective key: score}}) and its ratings."""
    import uuid

    from experiments.models import Perspective
    from ratings.models import Rating, Trial

    perspectives = {p.key: p for p in Perspective.objects.filter(study=session.study)}
    trials = Trial.objects.bulk_create(
        Trial(
            session=session,
            index=start_index + k,
            stimulus=s,
            kind=kind,
            prompt_shown=s.prompt,
            repetition=repetition,
        )
        for k, s in enumerate(scores)
    )
    rows = [
        Rating(
            session=session,
            trial=trial,
            stimulus=trial.stimulus,
            perspective=perspectives[key],
            score=value,
            kind=kind,
            repetition=repetition,
            prompt_shown=trial.prompt_shown,
            trial_index=trial.index,
            viewing_ms=2500,
            response_ms=1800,
            idempotency_key=uuid.uuid4(),
        )
        for trial, per in zip(trials, scores.values(), strict=True)
        for key, value in per.items()
    ]
    return Rating.objects.bulk_create(rows)


def rated_study_create(
    *,
    owner: Any = None,
    stimuli: int = 8,
    raters: int = 10,
    spammers: int = 0,
    seed: int = 0,
    positions: list[int] | None = None,
    **study_fields: Any,
) -> tuple[Study, list[Stimulus], list[Participant]]:
    """A study with `stimuli` test stimuli rated by every one of `raters` participants.

    Honest raters score round(truth + noise) on 1..5 for every perspective (truth rises with the
    stimulus index, so MOS order = index order); the last `spammers` raters answer at random.
    `positions` sets the stimulus positions (e.g. sparse ones).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    study = StudyFactory(owner=owner or UserFactory(), **study_fields)
    items = [
        StimulusFactory(
            study=study,
            position=positions[k] if positions else k,
            generator=f"model-{'ab'[k % 2]}",
            categories={"challenge": "Basic", "scene": f"scene-{k % 3}"},
        )
        for k in range(stimuli)
    ]
    truth = np.linspace(1.5, 4.5, stimuli)
    keys = list(study.perspectives.order_by("order").values_list("key", flat=True))
    people = []
    for i in range(raters):
        session = RatingSessionFactory(participant__study=study)
        spam = i >= raters - spammers
        scores = {}
        for j, s in enumerate(items):
            scores[s] = {
                key: float(rng.integers(1, 6))
                if spam
                else float(np.clip(np.round(truth[j] + d * 0.1 + rng.normal(0, 0.5)), 1, 5))
                for d, key in enumerate(keys)
            }
        ratings_add(session, scores)
        people.append(session.participant)
    return study, items, people
