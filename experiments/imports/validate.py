"""Checks on a whole plan: every image decodes, no duplicates, positions free, fields valid."""

import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Max

from experiments.images import ImageInfo, ImageProblem, inspect_image
from experiments.imports.plan import Planned
from experiments.imports.problems import Problem
from experiments.imports.sources import Source
from experiments.models import Stimulus, Study, stimulus_upload_to

Progress = Callable[[int, int], None]


@dataclass
class Checked:
    planned: Planned
    info: ImageInfo


def check_images(
    source: Source, planned: list[Planned], progress: Progress
) -> tuple[list[Checked], list[Problem]]:
    """Decode every image (Pillow verify, then load); report each bad one with its row and file."""
    checked: list[Checked] = []
    problems: list[Problem] = []
    for i, item in enumerate(planned):
        try:
            info = inspect_image(source.read(item.member))
        except ImageProblem as exc:
            problems.append(Problem(str(exc), file=item.member, row=item.row))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            problems.append(
                Problem(f"the file cannot be read from the upload ({exc})", file=item.member, row=item.row)
            )
        else:
            checked.append(Checked(planned=item, info=info))
        progress(i + 1, len(planned))
    return checked, problems


def check_duplicates(study: Study, checked: list[Checked]) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, Checked] = {}
    for c in checked:
        earlier = first.setdefault(c.info.sha256, c)
        if earlier is not c:
            where = f"row {earlier.planned.row}, " if earlier.planned.row is not None else ""
            problems.append(
                Problem(
                    f"the same image as {where}{earlier.planned.member}",
                    file=c.planned.member,
                    row=c.planned.row,
                )
            )
    existing = dict(
        Stimulus.objects.filter(study=study, sha256__in=list(first)).values_list("sha256", "name")
    )
    for c in checked:
        if c.info.sha256 in existing and first[c.info.sha256] is c:
            problems.append(
                Problem(
                    f"the study already has this image (as {existing[c.info.sha256]})",
                    file=c.planned.member,
                    row=c.planned.row,
                )
            )
    return problems


def assign_positions(study: Study, planned: list[Planned]) -> list[Problem]:
    """Give rows without a position the next free ones; report clashes with each other and the study."""
    problems: list[Problem] = []
    last = study.stimuli.aggregate(m=Max("position"))["m"]
    given = [p.position for p in planned if p.position is not None]
    next_free = max([-1 if last is None else last, *given]) + 1
    for item in planned:
        if item.position is None:
            item.position = next_free
            next_free += 1
    by_position: dict[int, Planned] = {}
    for item in planned:
        assert item.position is not None
        other = by_position.setdefault(item.position, item)
        if other is not item:
            problems.append(
                Problem(
                    f"position {item.position} is also used by {other.member}", file=item.member, row=item.row
                )
            )
    taken = set(study.stimuli.filter(position__in=list(by_position)).values_list("position", flat=True))
    for position in sorted(taken):
        item = by_position[position]
        problems.append(
            Problem(
                f"the study already has a stimulus at position {position}", file=item.member, row=item.row
            )
        )
    return problems


@dataclass
class Built:
    stimulus: Stimulus  # unsaved
    member: str  # where its bytes are in the source


def build_stimuli(study: Study, checked: list[Checked]) -> tuple[list[Built], list[Problem]]:
    """Unsaved Stimulus rows, each validated field by field (lengths, choices)."""
    stimuli: list[Built] = []
    problems: list[Problem] = []
    for c in checked:
        p, info = c.planned, c.info
        assert p.position is not None  # assign_positions gave every row one
        stimulus = Stimulus(
            study=study,
            position=p.position,
            name=p.name,
            sha256=info.sha256,
            width=info.width,
            height=info.height,
            format=info.format,
            prompt=p.prompt,
            generator=p.generator,
            role=p.role,
            categories=p.categories,
            metadata=p.metadata,
            reference_scores=p.reference_scores,
        )
        stimulus.image.name = stimulus_upload_to(stimulus, "")
        try:
            stimulus.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                problems.append(Problem(f"{field}: {' '.join(messages)}", file=p.member, row=p.row))
        else:
            stimuli.append(Built(stimulus=stimulus, member=p.member))
    return stimuli, problems
