"""Writes on studies and stimuli."""

import copy
import logging
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from kombu.exceptions import KombuError

from config.jobs import job_send
from experiments import selectors
from experiments.exceptions import (
    ImportQueueUnavailable,
    ImportRejected,
    StudyError,
    StudyStatusError,
    TrialDesignLocked,
)
from experiments.images import inspect_image
from experiments.imports.aigciqa2023 import plan_aigciqa2023
from experiments.imports.manifest import plan_manifest
from experiments.imports.problems import Problem
from experiments.imports.sources import Source, open_source
from experiments.imports.validate import (
    Built,
    assign_positions,
    build_stimuli,
    check_duplicates,
    check_images,
)
from experiments.models import (
    AnnotationTask,
    Perspective,
    Stimulus,
    StimulusImport,
    Study,
    stimulus_upload_to,
)
from experiments.presets import ACR_LABELS, AIGCIQA2023_PERSPECTIVES, AIGCIQA2023_TRANSLATIONS

logger = logging.getLogger(__name__)
RESERVED_SLUGS = {"new"}  # taken by researcher URLs under /studies/


def _unique_slug(title: str) -> str:
    base = slugify(title)[:60] or "study"
    if base in RESERVED_SLUGS:
        base = f"{base}-study"
    slug, n = base, 1
    while Study.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def study_create(*, owner: User, title: str, slug: str = "", **fields: Any) -> Study:
    """Create a draft study with the AIGCIQA2023 preset: three perspectives on a 1..5 ACR scale."""
    study = Study(owner=owner, title=title, slug=slug or _unique_slug(title), **fields)
    if not study.scale_labels:
        study.scale_labels = [str(label) for label in ACR_LABELS]
    if not study.translations:
        study.translations = copy.deepcopy(AIGCIQA2023_TRANSLATIONS)
    study.full_clean()
    study.save()
    for order, preset in enumerate(AIGCIQA2023_PERSPECTIVES, start=1):
        perspective = Perspective(
            study=study,
            order=order,
            key=str(preset["key"]),
            label=str(preset["label"]),
            question=str(preset["question"]),
            level_descriptions=[str(d) for d in preset["level_descriptions"]],
        )
        perspective.full_clean()
        perspective.save()
    return study


@transaction.atomic
def study_create_configured(
    *,
    owner: User,
    title: str,
    fields: dict[str, Any],
    perspectives: list[dict[str, Any]] | None,
    annotation_tasks: list[dict[str, Any]] | None = None,
) -> Study:
    """Create a draft study and apply settings, perspectives and annotation tasks to it: all of
    it, or nothing."""
    study = study_create(owner=owner, title=title)
    if fields or perspectives is not None or annotation_tasks is not None:
        study = study_update(
            study=study, fields=fields, perspectives=perspectives, annotation_tasks=annotation_tasks
        )
    return study


def stimulus_file_store(*, data: bytes, sha256: str, fmt: str) -> str:
    """Store the bytes under their content hash (once) and return the storage name."""
    return _file_store(data, sha256, fmt)[0]


def _file_store(data: bytes, sha256: str, fmt: str) -> tuple[str, bool]:
    """The storage name, and whether this call wrote the file (False: it was there already)."""
    probe = Stimulus(sha256=sha256, format=fmt)
    name = stimulus_upload_to(probe, "")
    if default_storage.exists(name):
        return name, False
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:  # a concurrent writer stored the same content first
        default_storage.delete(saved)
        return name, False
    return name, True


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


# --- Study configuration ---------------------------------------------------------------------
# Changing these once ratings exist would mix incompatible ratings in one analysis.
TRIAL_DESIGN_FIELDS = (
    "stimuli_per_session",
    "break_every",
    "min_viewing_ms",
    "allocation_mode",
    "training_count",
    "scale_kind",
    "scale_min",
    "scale_max",
    "gold_per_session",
    "repeats_per_session",
    "traps_per_session",
    "check_straightlining",
    "qc_action",
    "questionnaire",
)
# Wording, recruitment and targets stay editable at any time.
EDITABLE_FIELDS = (
    "title",
    "description",
    "instructions",
    "consent_text",
    "target_ratings",
    "precision_min_ratings",
    "precision_max_ratings",
    "session_expiry_minutes",
    "scale_labels",
    "panel",
    "completion_code",
    "screenout_code",
    "noconsent_code",
    "completion_url",
    "device_policy",
    "languages",
    "translations",
    "training_feedback",
    "pay_per_participant",
)


def _check_scale(study: Study, perspectives: list[dict[str, Any]]) -> None:
    if study.scale_kind == Study.ScaleKind.CONTINUOUS:
        if len(study.scale_labels) not in (0, 2):
            raise StudyError(_("A continuous slider takes two end labels (low, high)."))
        return
    levels = study.scale_max - study.scale_min + 1
    if study.scale_max <= study.scale_min:
        raise StudyError(_("The scale maximum must be above the minimum."))
    if levels > 101:
        raise StudyError(_("An integer scale has at most 101 levels; use the continuous slider."))
    if study.scale_labels and len(study.scale_labels) != levels:
        raise StudyError(
            _("The scale has %(levels)d levels but %(labels)d labels: give one label per level.")
            % {"levels": levels, "labels": len(study.scale_labels)}
        )
    for p in perspectives:
        descriptions = p.get("level_descriptions") or []
        if descriptions and len(descriptions) != levels:
            raise StudyError(
                _("Perspective %(key)s describes %(n)d levels; the scale has %(levels)d.")
                % {"key": p["key"], "n": len(descriptions), "levels": levels}
            )


def _check_precision(study: Study, perspectives: list[dict[str, Any]]) -> None:
    """Precision mode's bounds always make sense; the mode itself needs a target per perspective."""
    if study.precision_min_ratings < 2:
        raise StudyError(_("The minimum of ratings per image must be at least 2 (an interval needs two)."))
    if study.precision_max_ratings < study.precision_min_ratings:
        raise StudyError(_("The maximum of ratings per image must be at least the minimum."))
    for p in perspectives:
        target = p.get("target_half_width")
        if target is not None and not target > 0:
            raise StudyError(
                _("The target half-width of perspective %(key)s must be above 0.") % {"key": p["key"]}
            )
    if study.allocation_mode != Study.AllocationMode.PRECISION:
        return
    missing = [p["key"] for p in perspectives if p.get("target_half_width") is None]
    if missing:
        raise StudyError(
            _("Precision allocation needs a target half-width on every perspective; missing: %(keys)s.")
            % {"keys": ", ".join(missing)}
        )


def _perspective_dicts(study: Study) -> list[dict[str, Any]]:
    return [
        {
            "key": p.key,
            "label": p.label,
            "question": p.question,
            "level_descriptions": p.level_descriptions,
            "target_half_width": p.target_half_width,
        }
        for p in study.perspectives.order_by("order")
    ]


def _perspectives_replace(study: Study, perspectives: list[dict[str, Any]]) -> None:
    keys = [p["key"] for p in perspectives]
    if not keys:
        raise StudyError(_("A study needs at least one perspective."))
    if len(set(keys)) != len(keys):
        raise StudyError(_("Perspective keys must be unique."))
    study.perspectives.exclude(key__in=keys).delete()
    existing = {p.key: p for p in study.perspectives.all()}
    # Move every order out of the way first: the (study, order) constraint is not deferred.
    study.perspectives.update(order=models.F("order") + 10_000)
    for order, data in enumerate(perspectives, start=1):
        perspective = existing.get(data["key"]) or Perspective(study=study, key=data["key"])
        perspective.order = order
        perspective.label = data["label"]
        perspective.question = data["question"]
        perspective.level_descriptions = list(data.get("level_descriptions") or [])
        perspective.target_half_width = data.get("target_half_width")
        perspective.full_clean(exclude=["study"])
        perspective.save()


ANNOTATION_TASK_FIELDS = ("key", "kind", "label", "instructions")


def _task_dicts(study: Study) -> list[dict[str, Any]]:
    return [
        {name: getattr(t, name) for name in ANNOTATION_TASK_FIELDS}
        for t in study.annotation_tasks.order_by("order")
    ]


def _check_tasks(tasks: list[dict[str, Any]]) -> None:
    """At most one task of each kind (so at most two), unique keys, known kinds."""
    kinds = [t.get("kind") for t in tasks]
    unknown = [str(k) for k in kinds if k not in AnnotationTask.Kind.values]
    if unknown:
        raise StudyError(
            _("Unknown annotation task kind(s): %(kinds)s; use regions or words.")
            % {"kinds": ", ".join(unknown)}
        )
    if len(set(kinds)) != len(kinds):
        raise StudyError(_("A study has at most one annotation task of each kind (regions, words)."))
    keys = [t.get("key") for t in tasks]
    if len(set(keys)) != len(keys):
        raise StudyError(_("Annotation task keys must be unique."))


def _tasks_replace(study: Study, tasks: list[dict[str, Any]]) -> None:
    keys = [t["key"] for t in tasks]
    study.annotation_tasks.exclude(key__in=keys).delete()
    existing = {t.key: t for t in study.annotation_tasks.all()}
    # Orders and kinds out of the way first: the (study, order) and (study, kind) constraints
    # are not deferred.
    study.annotation_tasks.update(order=models.F("order") + 10_000)
    for order, data in enumerate(tasks, start=1):
        task = existing.get(data["key"]) or AnnotationTask(study=study, key=data["key"])
        task.order = order
        task.kind = data["kind"]
        task.label = data["label"]
        task.instructions = data.get("instructions") or ""
        try:
            task.full_clean(exclude=["study"], validate_constraints=False)
        except ValidationError as exc:
            raise StudyError(
                _("Annotation task %(key)s: %(problems)s")
                % {"key": data["key"], "problems": " ".join(exc.messages)}
            ) from None
        task.save()


@transaction.atomic
def study_update(
    *,
    study: Study,
    fields: dict[str, Any],
    perspectives: list[dict[str, Any]] | None = None,
    annotation_tasks: list[dict[str, Any]] | None = None,
) -> Study:
    """Change settings, perspectives and annotation tasks ([{key, kind, label, instructions}] in
    order, replacing the list); refuse trial-design changes once ratings exist.

    Wording (title, texts, scale labels, perspective and task labels, questions, task instructions
    and level descriptions) may change at any time; a changed consent text gets a new consent
    version.
    """
    study = Study.objects.select_for_update().get(pk=study.pk)
    unknown = set(fields) - set(TRIAL_DESIGN_FIELDS) - set(EDITABLE_FIELDS) - {"slug"}
    if unknown:
        raise StudyError(_("Unknown study field(s): %s") % ", ".join(sorted(unknown)))
    changed = {k for k, v in fields.items() if getattr(study, k) != v}
    current = _perspective_dicts(study)
    if perspectives is None:
        perspectives = current
    # A perspective given without a target keeps its own (an explicit None clears it).
    targets = {p["key"]: p["target_half_width"] for p in current}
    perspectives = [{"target_half_width": targets.get(p["key"]), **p} for p in perspectives]
    design_changes = sorted(changed & set(TRIAL_DESIGN_FIELDS))
    if [p["key"] for p in perspectives] != [p["key"] for p in current]:
        design_changes.append("perspectives")
    if "scale_labels" in changed and len(fields["scale_labels"]) != len(study.scale_labels):
        design_changes.append("scale_labels")
    current_tasks = _task_dicts(study)
    tasks = current_tasks if annotation_tasks is None else annotation_tasks
    if [(t.get("key"), t.get("kind")) for t in tasks] != [(t["key"], t["kind"]) for t in current_tasks]:
        design_changes.append("annotation tasks")
    if design_changes and selectors.study_has_ratings(study=study):
        raise TrialDesignLocked(
            _(
                "This study already has ratings, so its trial design cannot change (%(fields)s). "
                "Wording may still change; for a different design, create a new study."
            )
            % {"fields": ", ".join(design_changes)}
        )
    if "consent_text" in changed:
        study.consent_version += 1
    for name, value in fields.items():
        setattr(study, name, value)
    _check_scale(study, perspectives)
    _check_precision(study, perspectives)
    _check_tasks(tasks)
    study.full_clean()
    study.save()
    _perspectives_replace(study, perspectives)
    _tasks_replace(study, tasks)
    return study


# --- Sharing, duplication, archive ------------------------------------------------------------
SHARE_ROLES = ("viewer", "editor")


@transaction.atomic
def study_share(*, study: Study, user: Any, role: str) -> Study:
    """Share the study with another researcher as viewer (read only) or editor (may change it)."""
    if role not in SHARE_ROLES:
        raise StudyError(_("Choose viewer or editor."))
    if user.pk == study.owner_id:
        raise StudyError(_("%(user)s owns this study already.") % {"user": user.get_username()})
    # One role per person: sharing again changes the role.
    study.collaborators.remove(user)
    study.viewers.remove(user)
    (study.collaborators if role == "editor" else study.viewers).add(user)
    return study


@transaction.atomic
def study_unshare(*, study: Study, user: Any) -> Study:
    """Take back the access another researcher had to the study."""
    study.collaborators.remove(user)
    study.viewers.remove(user)
    return study


COPIED_FIELDS = (*TRIAL_DESIGN_FIELDS, *EDITABLE_FIELDS, "consent_version")


@transaction.atomic
def study_duplicate(*, study: Study, owner: Any, title: str = "", copy_stimuli: bool = False) -> Study:
    """A new draft with this study's settings, perspectives, texts and questionnaire (stimuli optional).

    Nothing of the participants, ratings or analyses is copied; shares are not either.
    """
    fields = {name: getattr(study, name) for name in COPIED_FIELDS if name != "title"}
    new_title = title.strip() or _("Copy of %(title)s") % {"title": study.title}
    copy = Study(owner=owner, title=new_title[:200], slug=_unique_slug(new_title), **fields)
    copy.full_clean()
    copy.save()
    for perspective in study.perspectives.order_by("order"):
        Perspective.objects.create(
            study=copy,
            order=perspective.order,
            key=perspective.key,
            label=perspective.label,
            question=perspective.question,
            level_descriptions=list(perspective.level_descriptions),
        )
    for task in study.annotation_tasks.order_by("order"):
        AnnotationTask.objects.create(
            study=copy,
            order=task.order,
            key=task.key,
            kind=task.kind,
            label=task.label,
            instructions=task.instructions,
        )
    if copy_stimuli:
        # The image files are content-addressed: the copies point at the same stored files.
        Stimulus.objects.bulk_create(
            [
                Stimulus(
                    study=copy,
                    **{
                        f.attname: s.image.name if f.name == "image" else getattr(s, f.attname)
                        for f in Stimulus._meta.concrete_fields
                        if f.attname not in ("id", "study_id", "created_at")
                    },
                )
                for s in study.stimuli.order_by("position")
            ],
            batch_size=1000,
        )
    return copy


def study_archive(*, study: Study, archived: bool = True) -> Study:
    """Hide the study from the study list (or show it again); nothing else changes."""
    study.archived_at = timezone.now() if archived else None
    study.save(update_fields=["archived_at", "updated_at"])
    return study


def study_foreign_panel_note(*, study: Study, panel: str) -> None:
    """Record that the study link was opened with another panel's parameters (once per panel)."""
    Study.objects.filter(pk=study.pk).exclude(foreign_panel_seen=panel).update(
        foreign_panel_seen=panel, foreign_panel_seen_at=timezone.now()
    )


def _study_set_status(study: Study, new: str, allowed_from: tuple[str, ...], verb: str) -> Study:
    updated = Study.objects.filter(pk=study.pk, status__in=allowed_from).update(
        status=new, updated_at=timezone.now()
    )
    if not updated:
        study.refresh_from_db(fields=["status"])
        raise StudyStatusError(
            _("A study that is %(status)s cannot be %(verb)s.")
            % {"status": study.get_status_display().lower(), "verb": verb}
        )
    study.refresh_from_db()
    return study


@transaction.atomic
def study_launch(*, study: Study) -> Study:
    """Open a draft or paused study to participants; it needs test stimuli and perspectives."""
    if not study.stimuli.filter(role=Stimulus.Role.TEST).exists():
        raise StudyError(_("Import test stimuli before launching the study."))
    if not study.perspectives.exists():
        raise StudyError(_("A study needs at least one perspective."))
    return _study_set_status(
        study, Study.Status.OPEN, (Study.Status.DRAFT, Study.Status.PAUSED), str(_("launched"))
    )


@transaction.atomic
def study_pause(*, study: Study) -> Study:
    """Stop new sessions for a while; sessions in progress may finish."""
    return _study_set_status(study, Study.Status.PAUSED, (Study.Status.OPEN,), str(_("paused")))


@transaction.atomic
def study_close(*, study: Study) -> Study:
    """Close the study for good: no new sessions."""
    return _study_set_status(
        study, Study.Status.CLOSED, (Study.Status.OPEN, Study.Status.PAUSED), str(_("closed"))
    )


# --- Stimulus imports ------------------------------------------------------------------------
@transaction.atomic
def stimulus_import_create(
    *, study: Study, user: User | None, upload: File, kind: str = StimulusImport.Kind.MANIFEST
) -> StimulusImport:
    """Store an uploaded archive and queue its validation and import (after commit)."""
    if kind not in StimulusImport.Kind.values:
        raise StudyError(_("Unknown import kind %s.") % kind)
    size = getattr(upload, "size", 0) or 0
    if size > settings.STIMULUS_UPLOAD_MAX_BYTES:
        raise StudyError(
            _("The upload is %(size)s bytes; the limit is %(limit)s bytes.")
            % {"size": f"{size:,}", "limit": f"{settings.STIMULUS_UPLOAD_MAX_BYTES:,}"}
        )
    # The stored name is ours: nothing of the uploaded file name reaches a path.
    source = default_storage.save(f"imports/{study.pk}/{uuid.uuid4().hex}.zip", upload)
    stimulus_import = StimulusImport(
        study=study,
        kind=kind,
        source=source,
        created_by=user,
        original_name=(getattr(upload, "name", "") or "")[-255:],
        message=str(_("Waiting for a worker")),
    )
    stimulus_import.full_clean()
    stimulus_import.save()
    import_id = stimulus_import.pk
    transaction.on_commit(lambda: stimulus_import_enqueue(import_id=import_id))
    return stimulus_import


def stimulus_import_enqueue(*, import_id: int) -> None:
    """Publish the import's job; raise ImportQueueUnavailable if the broker refuses it (the
    import stays pending and `stimulus_imports_sweep` publishes it later)."""
    try:
        job_send("experiments.tasks.stimulus_import_execute_task", import_id)
    except (KombuError, OSError) as exc:
        logger.warning("stimulus import %s: could not publish the job: %s", import_id, exc)
        StimulusImport.objects.filter(pk=import_id, status=StimulusImport.Status.PENDING).update(
            message=str(_("Waiting for the job queue (unavailable)"))
        )
        raise ImportQueueUnavailable(import_id) from exc
    StimulusImport.objects.filter(pk=import_id).update(enqueued_at=timezone.now())


def stimulus_imports_sweep(*, pending_after: timedelta | None = None) -> list[int]:
    """Publish again the imports nobody works on; return their ids.

    Pending imports never published, or not for `pending_after` (the broker was down, the message
    was lost), and running ones past the job's time limit (the worker died; the claim takes them
    over). Duplicate messages are harmless: one worker claims an import.
    """
    now = timezone.now()
    if pending_after is None:
        pending_after = timedelta(seconds=settings.JOB_PENDING_SECONDS)
    Status = StimulusImport.Status
    pending = Q(status=Status.PENDING) & (
        Q(enqueued_at__isnull=True, created_at__lt=now - pending_after)
        | Q(enqueued_at__lt=now - pending_after)
    )
    stale = Q(status=Status.RUNNING, started_at__lt=now - _import_stale_after())
    ids = list(StimulusImport.objects.filter(pending | stale).order_by("id").values_list("id", flat=True))
    published = []
    for import_id in ids:
        try:
            stimulus_import_enqueue(import_id=import_id)
        except ImportQueueUnavailable:
            break  # the next sweep tries again
        published.append(import_id)
    return published


def _import_stale_after() -> timedelta:
    return timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)


def stimulus_import_claim(*, import_id: int) -> bool:
    """Mark the import running unless another worker has it (a stale run may be taken over)."""
    stale = timezone.now() - _import_stale_after()
    claimable = Q(status=StimulusImport.Status.PENDING) | Q(
        status=StimulusImport.Status.RUNNING, started_at__lt=stale
    )
    return bool(
        StimulusImport.objects.filter(claimable, pk=import_id).update(
            status=StimulusImport.Status.RUNNING,
            started_at=timezone.now(),
            progress=0.0,
            message=str(_("Reading the upload")),
        )
    )


def _progress(
    stimulus_import: StimulusImport, share: float, start: float, message: str
) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            StimulusImport.objects.filter(pk=stimulus_import.pk).update(
                progress=start + share * done / max(total, 1), message=f"{message} {done:,}/{total:,}"
            )

    return report


def stimulus_import_execute(
    *, stimulus_import: StimulusImport, manifest: bytes | None = None
) -> StimulusImport:
    """Validate everything, then import all stimuli in one transaction, or none with every problem.

    Long, so not one transaction: validation and file storage run first. The files this import
    wrote are deleted again when it is refused or raises (files that were already stored belong
    to other stimuli and stay), so a failed import leaves nothing behind.
    """
    built: list[Built] = []
    written: list[str] = []
    try:
        with open_source(stimulus_import.source) as (source, problems):
            if source is not None and not problems:
                problems, built = _validate(stimulus_import, source, manifest)
                if not problems:
                    _store_files(stimulus_import, source, built, written)
                    try:
                        _create_rows(stimulus_import.study, built)
                    except ImportRejected as exc:
                        problems = exc.problems
    except BaseException:
        _files_remove_unreferenced(written)
        raise
    if problems:
        _files_remove_unreferenced(written)
    return _import_finish(stimulus_import, problems=problems, count=0 if problems else len(built))


def _validate(
    stimulus_import: StimulusImport, source: Source, manifest: bytes | None
) -> tuple[list[Problem], list[Built]]:
    study = stimulus_import.study
    if stimulus_import.kind == StimulusImport.Kind.AIGCIQA2023:
        planned, problems = plan_aigciqa2023(source)
    else:
        keys = list(study.perspectives.values_list("key", flat=True))
        planned, problems = plan_manifest(source, perspective_keys=keys, manifest=manifest)
    checked, image_problems = check_images(
        source, planned, _progress(stimulus_import, 0.6, 0.0, str(_("Checking images")))
    )
    problems += image_problems
    problems += check_duplicates(study, checked)
    problems += assign_positions(study, [c.planned for c in checked])
    stimuli, field_problems = build_stimuli(study, checked)
    problems += field_problems
    return problems, stimuli


def _store_files(
    stimulus_import: StimulusImport, source: Source, built: list[Built], written: list[str]
) -> None:
    """Store every image; `written` collects the names this import wrote (for the clean-up)."""
    report = _progress(stimulus_import, 0.35, 0.6, str(_("Storing images")))
    for i, item in enumerate(built):
        stimulus = item.stimulus
        name, wrote = _file_store(source.read(item.member), stimulus.sha256, stimulus.format)
        if wrote:
            written.append(name)
        report(i + 1, len(built))


def _files_remove_unreferenced(names: list[str]) -> None:
    """Delete these stored files unless a stimulus uses them (another import may have stored the
    same content meanwhile and committed its rows)."""
    for start in range(0, len(names), 1000):
        batch = names[start : start + 1000]
        used = set(Stimulus.objects.filter(image__in=batch).values_list("image", flat=True))
        for name in batch:
            if name not in used:
                default_storage.delete(name)


def _upload_remove(source: str) -> None:
    """Delete an uploaded archive (a server path given to the commands is the researcher's own)."""
    if not os.path.isabs(source) and default_storage.exists(source):
        default_storage.delete(source)


@transaction.atomic
def _create_rows(study: Study, built: list[Built]) -> None:
    # The study row lock serialises imports into one study, so the position check below holds.
    Study.objects.select_for_update().get(pk=study.pk)
    stimuli = [b.stimulus for b in built]
    clash = list(
        study.stimuli.filter(position__in=[s.position for s in stimuli]).values_list("position", flat=True)
    )
    if clash:
        raise ImportRejected(
            [Problem(f"another import took position {p} meanwhile") for p in sorted(clash)[:50]]
        )
    Stimulus.objects.bulk_create(stimuli, batch_size=1000)


def _import_finish(stimulus_import: StimulusImport, *, problems: list[Problem], count: int) -> StimulusImport:
    if problems:
        # Archive-wide problems first, then by manifest row, then files without a row.
        problems = sorted(problems, key=lambda p: (p.row is None and p.file != "", p.row or 0, p.file))
        stimulus_import.status = StimulusImport.Status.FAILED
        stimulus_import.problems = [p.as_dict() for p in problems]
        stimulus_import.message = str(_("%d problem(s) found; nothing was imported") % len(problems))
        stimulus_import.imported_count = 0
    else:
        stimulus_import.status = StimulusImport.Status.DONE
        stimulus_import.problems = []
        stimulus_import.message = str(_("%d stimuli imported") % count)
        stimulus_import.imported_count = count
    stimulus_import.progress = 1.0
    stimulus_import.finished_at = timezone.now()
    stimulus_import.save(
        update_fields=["status", "problems", "message", "imported_count", "progress", "finished_at"]
    )
    _upload_remove(stimulus_import.source)  # imported or refused, the archive is spent
    return stimulus_import


def stimulus_import_fail(*, import_id: int, message: str) -> None:
    """Mark an import failed after an unexpected error and delete its upload (nothing was
    imported: rows are all-or-nothing, and stimulus_import_execute removed the files it wrote)."""
    failed = StimulusImport.objects.filter(pk=import_id).exclude(status=StimulusImport.Status.DONE)
    failed.update(
        status=StimulusImport.Status.FAILED,
        message=message[:300],
        progress=1.0,
        finished_at=timezone.now(),
        problems=[Problem(message).as_dict()],
    )
    for source in failed.values_list("source", flat=True):
        _upload_remove(source)


def stimulus_import_failure_reason(exc: BaseException) -> str:
    """The reason shown for an import that stopped on an unexpected error."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return str(_("The import stopped on an unexpected error (%s); nothing was imported.") % reason)


def stimulus_import_run_local(
    *, study: Study, path: str, kind: str, manifest: bytes | None = None, user: User | None = None
) -> StimulusImport:
    """Import a folder or zip on the server's disk now, in this process (the management commands)."""
    stimulus_import = StimulusImport.objects.create(
        study=study,
        kind=kind,
        source=os.path.abspath(path),
        created_by=user,
        original_name=os.path.basename(path),
    )
    stimulus_import_claim(import_id=stimulus_import.pk)
    stimulus_import.refresh_from_db()
    try:
        return stimulus_import_execute(stimulus_import=stimulus_import, manifest=manifest)
    except Exception as exc:
        # The command reports the failed record; the traceback goes to the log.
        logger.exception("stimulus import %s failed", stimulus_import.pk)
        stimulus_import_fail(import_id=stimulus_import.pk, message=stimulus_import_failure_reason(exc))
        stimulus_import.refresh_from_db()
        return stimulus_import
