"""Writes on studies and stimuli."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils.text import slugify

from experiments.images import inspect_image
from experiments.models import Perspective, Stimulus, Study, stimulus_upload_to
from experiments.presets import ACR_LABELS, AIGCIQA2023_PERSPECTIVES


def _unique_slug(title: str) -> str:
    base = slugify(title)[:60] or "study"
    slug, n = base, 1
    while Study.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def study_create(*, owner: AbstractBaseUser, title: str, slug: str = "", **fields: Any) -> Study:
    """Create a draft study with the AIGCIQA2023 preset: three perspectives on a 1..5 ACR scale."""
    study = Study(owner=owner, title=title, slug=slug or _unique_slug(title), **fields)
    if not study.scale_labels:
        study.scale_labels = [str(label) for label in ACR_LABELS]
    study.full_clean()
    study.save()
    for order, preset in enumerate(AIGCIQA2023_PERSPECTIVES, start=1):
        perspective = Perspective(
            study=study,
            order=order,
            key=preset["key"],
            label=str(preset["label"]),
            question=str(preset["question"]),
            level_descriptions=[str(d) for d in preset["level_descriptions"]],
        )
        perspective.full_clean()
        perspective.save()
    return study


def stimulus_file_store(*, data: bytes, sha256: str, fmt: str) -> str:
    """Store the bytes under their content hash (once) and return the storage name."""
    probe = Stimulus(sha256=sha256, format=fmt)
    name = stimulus_upload_to(probe, "")
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(data))
        if saved != name:  # a concurrent writer stored the same content first
            default_storage.delete(saved)
    return name


@transaction.atomic
def stimulus_create(
    *,
    study: Study,
    data: bytes,
    name: str,
    prompt: str,
    generator: str = "",
    position: int | None = None,
    role: str = Stimulus.Role.TEST,
    categories: dict[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
    reference_scores: dict[str, float] | None = None,
) -> Stimulus:
    """Check one image and add it to the study. Raises ImageProblem for a bad file."""
    info = inspect_image(data)
    if position is None:
        last = study.stimuli.aggregate(m=Max("position"))["m"]
        position = 0 if last is None else last + 1
    stimulus = Stimulus(
        study=study,
        position=position,
        name=name,
        sha256=info.sha256,
        width=info.width,
        height=info.height,
        format=info.format,
        prompt=prompt,
        generator=generator,
        role=role,
        categories=categories or {},
        metadata=metadata or {},
        reference_scores=reference_scores or {},
    )
    stimulus.image.name = stimulus_file_store(data=data, sha256=info.sha256, fmt=info.format)
    stimulus.full_clean()
    stimulus.save()
    return stimulus
