"""Writes of the participant flow: entry, allocation, stage changes, ratings, expiry."""

import contextlib
import functools
import json
import logging
import math
import random
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np
from django.core.cache import cache
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import KombuError

from config.db import execute_prepared
from config.jobs import job_send
from experiments.models import AnnotationTask, Perspective, Stimulus, Study
from ratings import allocation, devices, qc
from ratings.annotations import CleanAnswer, TaskRef, annotations_clean, tasks_from_rows
from ratings.exceptions import (
    IdempotencyKeyReused,
    InvalidAnswers,
    PanelLinkInvalid,
    SessionNotRating,
    StudyFull,
    StudyNotOpen,
    TrialAlreadyAnswered,
    TrialNotFound,
    TrialOutOfOrder,
)
from ratings.models import Annotation, Participant, Rating, RatingSession, Trial
from ratings.panels import PanelEntry
from ratings.selectors import model_from_row as _from_row
from ratings.selectors import (
    participant_latest_session,
    seen_stimulus_ids,
    session_with_study_from_row,
    sql_columns,
    trial_payload,
)

logger = logging.getLogger(__name__)
Status = RatingSession.Status
DEVICE_KEYS = (
    "screen",
    "dpr",
    "viewport",
    "user_agent",
    "color_depth",
    "touch",
    "language",
    "fits",
    "layout",
    "need",
)
MAX_DEVICE_CHANGES = 50
EXPIRE_EVERY_SECONDS = 30


# --- Entry and allocation ------------------------------------------------------------------
def participant_enter(
    *, study: Study, entry: PanelEntry, consent: bool, pilot: bool = False, language: str = ""
) -> RatingSession:
    """Resume the panel id's session, or record the consent decision in a new session.

    A returning panel id always gets its own latest session back, never a second one. Consent
    creates the session with its trials (allocation); declining records a declined session.
    `pilot` (the caller verified a signed pilot link, ratings.pilot_links) flags the participant as
    simulated and lets them into a draft or paused study. A new session is created in `language`
    (else the default is set later, `session_language_set`).
    """
    if entry.problem:
        raise PanelLinkInvalid(entry.problem)
    if entry.external_id:
        existing = participant_latest_session(study=study, panel=entry.panel, external_id=entry.external_id)
        if existing and existing.is_pilot == pilot:
            return existing
        if existing:  # a pilot link never resumes a real session, nor the other way round
            raise PanelLinkInvalid(_("This participant id is already in use."))
    if study.status != Study.Status.OPEN and not (pilot and study.status != Study.Status.CLOSED):
        raise StudyNotOpen(_("This study is not open at the moment."))
    with allocation.claim_window(study.pk):
        return _participant_create(study=study, entry=entry, consent=consent, pilot=pilot, language=language)


def _participant_create(
    *, study: Study, entry: PanelEntry, consent: bool, pilot: bool, language: str
) -> RatingSession:
    claimed: dict[int, str] | None = None
    if consent:
        allocation.stimulus_loads_ensure(study.pk)
        _expire_now_and_then(study)
        if study.allocation_mode in (Study.AllocationMode.BALANCED, Study.AllocationMode.PRECISION):
            claimed = stimulus_loads_claim(study=study, exclude=[])
    try:
        participant = Participant(
            study=study,
            panel=entry.panel,
            external_id=entry.external_id,
            panel_data=entry.data,
            is_pilot=pilot,
        )
        # No unique or foreign-key queries: the code is random and the study was just read.
        participant.full_clean(exclude=["study"], validate_unique=False, validate_constraints=False)
        if consent and claimed is not None and allocation.on_postgres():
            return _first_session_insert(participant=participant, claimed=claimed, language=language)
        with transaction.atomic():
            participant.save()
            if not consent:
                return _session_create(
                    participant=participant, number=1, status=Status.DECLINED, language=language
                )
            return session_start(participant=participant, number=1, claimed=claimed, language=language)
    except IntegrityError:
        if claimed:
            stimulus_loads_release(claimed=claimed)
        # The same panel id arrived twice at once (double click, two tabs): the first one wins.
        existing = participant_latest_session(
            study=study, panel=entry.panel, external_id=entry.external_id or ""
        )
        if existing is None:
            raise
        return existing
    except BaseException:
        if claimed:
            stimulus_loads_release(claimed=claimed)
        raise


def stimulus_loads_claim(*, study: Study, exclude: Sequence[int]) -> dict[int, str]:
    """Claim a session's test stimuli (balanced or precision mode) in a transaction of its own.

    The study's allocation lock is held for the choice only: committed here, not after the
    session's trials are inserted, so starts queue behind one short statement. The caller gives
    the claim back with `stimulus_loads_release` if the session is not created. Raises StudyFull
    when no test stimulus is still needed. (Inside an outer transaction this is a savepoint and
    the lock lasts until the outer commit.)
    """
    count = study.stimuli_per_session
    if study.allocation_mode == Study.AllocationMode.PRECISION:
        perspective_ids, target = allocation.precision_target(study)
        rng = np.random.default_rng(secrets.randbits(64))
        with transaction.atomic():
            allocation.study_lock(study.pk)
            claimed = allocation.precision_pick(
                study=study,
                count=count,
                exclude=exclude,
                perspective_ids=perspective_ids,
                target=target,
                rng=rng,
            )
    else:
        with _on_its_own():
            claimed = allocation.balanced_claim(study=study, count=count, exclude=exclude)
    if not claimed:
        raise StudyFull(_("Thank you for your interest: this study needs no more ratings at the moment."))
    return claimed


def stimulus_loads_release(*, claimed: dict[int, str]) -> None:
    """Give back a claim whose session was not created (its counters go down again)."""
    with transaction.atomic():
        allocation.loads_change(list(claimed), -1)


def _expire_now_and_then(study: Study) -> None:
    """Release abandoned sessions' trials before allocating; at most every EXPIRE_EVERY_SECONDS per process."""
    key = f"ratings:expired:{study.pk}"
    if cache.add(key, True, EXPIRE_EVERY_SECONDS):
        sessions_expire(study=study)


def _session_create(
    *, participant: Participant, number: int, status: str, trial_count: int = 0, language: str = ""
) -> RatingSession:
    session = _session_new(
        participant=participant, number=number, status=status, trial_count=trial_count, language=language
    )
    session.save()
    return session


def _session_new(
    *, participant: Participant, number: int, status: str, trial_count: int, language: str
) -> RatingSession:
    """A session not saved yet; consent recorded unless declined."""
    study = participant.study
    session = RatingSession(
        participant=participant,
        study=study,
        number=number,
        status=status,
        is_pilot=participant.is_pilot,
        trial_count=trial_count,
        language=language,
    )
    if status != Status.DECLINED:
        session.consent_version = study.consent_version
        session.consented_at = timezone.now()
    return session


def _first_status(study: Study) -> str:
    """Where a consented session starts."""
    return Status.QUESTIONNAIRE if study.questionnaire else Status.DISPLAY_CHECK


@dataclass
class _Extras:
    """Everything a session gets besides its test stimuli, read before the allocation lock."""

    training: list[allocation.Item]
    gold: list[allocation.Item]
    trap_candidates: list[tuple[int, str]]
    other_prompts: list[str]


@transaction.atomic(savepoint=False)  # within a caller's transaction, no savepoint: it fails whole
def session_start(
    *, participant: Participant, number: int, claimed: dict[int, str] | None = None, language: str = ""
) -> RatingSession:
    """Create a consented session and allocate its trials in one transaction.

    Balanced and precision mode: `claimed` are the test stimuli claimed for it beforehand (`stimulus_loads_claim`,
    so that the allocation lock is not held while the trials are inserted; the caller releases
    them if this fails); without it, the claim is made here, inside this transaction.
    Raises StudyFull when no test stimulus is still needed (balanced, precision) or left unseen (full).
    """
    study = participant.study
    rng = random.Random(secrets.randbits(64))
    seen = seen_stimulus_ids(participant=participant) if number > 1 else []
    extras = _session_extras(study=study, seen=seen, rng=rng, first=number == 1)
    if study.allocation_mode == Study.AllocationMode.FULL:
        test_ids = allocation.full_pick(study=study, count=study.stimuli_per_session, exclude=seen, rng=rng)
    else:
        test_ids = claimed if claimed is not None else stimulus_loads_claim(study=study, exclude=seen)
    if not test_ids:
        raise StudyFull(_("Thank you for your interest: this study needs no more ratings at the moment."))
    items = _session_items(study=study, test_prompts=test_ids, extras=extras, rng=rng)
    # The order is known before the session exists: it is created with its trial count.
    session = _session_create(
        participant=participant,
        number=number,
        status=_first_status(study),
        trial_count=len(items),
        language=language,
    )
    if allocation.on_postgres():
        _trials_insert(session_id=session.pk, items=items)
    else:
        Trial.objects.bulk_create(
            Trial(
                session=session,
                index=i,
                stimulus_id=item.stimulus_id,
                kind=item.kind,
                repetition=item.repetition,
                prompt_shown=item.prompt_shown,
            )
            for i, item in enumerate(items)
        )
    return session


def _first_session_insert(
    *, participant: Participant, claimed: dict[int, str], language: str
) -> RatingSession:
    """`session_start` of a new participant's first session with its claimed test stimuli, the
    participant, the session and its trials going in as one statement (atomic on its own: no
    transaction to open and commit, one round trip instead of five). PostgreSQL only."""
    study = participant.study
    rng = random.Random(secrets.randbits(64))
    extras = _session_extras(study=study, seen=[], rng=rng, first=True)
    items = _session_items(study=study, test_prompts=claimed, extras=extras, rng=rng)
    session = _session_new(
        participant=participant,
        number=1,
        status=_first_status(study),
        trial_count=len(items),
        language=language,
    )
    p_sql, p_params = _values_insert([participant])
    s_sql, s_params = _values_insert([session], expressions={"participant_id": "(SELECT id FROM p)"})
    statement = (
        f"WITH p AS ({p_sql} RETURNING id), s AS ({s_sql} RETURNING id), "
        f"t AS ({_trials_insert_sql('s.id', 's, ')}) SELECT p.id, s.id FROM p, s"
    )
    with _on_its_own():
        [(participant_id, session_id)] = execute_prepared(
            statement, [*p_params, *s_params, _trials_json(items)]
        )
    for obj, pk in ((participant, participant_id), (session, session_id)):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias
    session.participant = participant
    return session


def _trials_insert(*, session_id: int, items: Sequence[allocation.Item]) -> None:
    """Insert the session's trials (index = position in `items`) in one statement (PostgreSQL).

    The rows travel as one JSON parameter: building a Trial instance per row and a parameter per
    column (bulk_create, or a VALUES list) cost more CPU than the rest of a session start
    (profiled at 100 trials).
    """
    with connection.cursor() as cursor:
        cursor.execute(_trials_insert_sql("%s"), [session_id, _trials_json(items)])


def _trials_insert_sql(session_id: str, sources: str = "") -> str:
    """The INSERT of `_trials_json`'s rows (one parameter) for the session `session_id` (SQL),
    selecting also from `sources` ("s, ": a CTE it names)."""
    return (
        f"INSERT INTO {Trial._meta.db_table} "  # noqa: S608 - the model's table
        '(session_id, "index", stimulus_id, kind, repetition, prompt_shown, answered_at) '
        f"SELECT {session_id}, t.n - 1, (t.e->>0)::bigint, t.e->>1, (t.e->>2)::smallint, t.e->>3, NULL "
        f"FROM {sources}json_array_elements(%s::json) WITH ORDINALITY AS t(e, n)"
    )


def _trials_json(items: Sequence[allocation.Item]) -> str:
    return json.dumps([[item.stimulus_id, item.kind, item.repetition, item.prompt_shown] for item in items])


@contextlib.contextmanager
def _on_its_own() -> Iterator[None]:
    """Around one statement that is atomic on its own: inside a caller's transaction, a savepoint,
    so that its failure does not break that transaction; otherwise nothing to open or commit."""
    if connection.in_atomic_block:
        with transaction.atomic():
            yield
    else:
        yield


def _session_extras(*, study: Study, seen: list[int], rng: random.Random, first: bool) -> _Extras:
    Item = allocation.Item
    stimuli = Stimulus.objects.filter(study=study).exclude(pk__in=seen).only("pk", "prompt")
    training: list[allocation.Item] = []
    if first and study.training_count:
        chosen = stimuli.filter(role=Stimulus.Role.TRAINING).order_by("?")[: study.training_count]
        training = [Item(s.pk, s.prompt, s.prompt, Trial.Kind.TRAINING) for s in chosen]
    gold: list[allocation.Item] = []
    if study.gold_per_session:
        chosen = stimuli.filter(role=Stimulus.Role.GOLD).order_by("?")[: study.gold_per_session]
        gold = [Item(s.pk, s.prompt, s.prompt, Trial.Kind.GOLD) for s in chosen]
    candidates: list[tuple[int, str]] = []
    prompts: list[str] = []
    if study.traps_per_session and study.perspectives.filter(key=qc.CORRESPONDENCE_KEY).exists():
        tests = stimuli.filter(role=Stimulus.Role.TEST)
        # A surplus: the session's own test stimuli, picked later, are never traps.
        surplus = study.traps_per_session + study.stimuli_per_session
        candidates = list(tests.order_by("?").values_list("pk", "prompt")[:surplus])
        prompts = list(
            Stimulus.objects.filter(study=study, role=Stimulus.Role.TEST)
            .values_list("prompt", flat=True)
            .distinct()
            .order_by()[:500]
        )
    return _Extras(training, gold, candidates, prompts)


def _session_items(
    *, study: Study, test_prompts: dict[int, str], extras: _Extras, rng: random.Random
) -> list[allocation.Item]:
    """Training first, then test, gold and traps in a clash-free random order, with repeats of
    earlier test stimuli placed after their originals."""
    Item = allocation.Item
    prompts = test_prompts
    main = [Item(pk, prompt, prompt, Trial.Kind.TEST) for pk, prompt in prompts.items()] + extras.gold
    traps = [(pk, own) for pk, own in extras.trap_candidates if pk not in prompts][: study.traps_per_session]
    for pk, own in traps:
        other = [p for p in extras.other_prompts if p != own]
        if other:
            main.append(Item(pk, own, rng.choice(other), Trial.Kind.TRAP))
    order = allocation.arrange(main, rng)
    tests = [item for item in main if item.kind == Trial.Kind.TEST]
    repeats = [
        Item(item.stimulus_id, item.prompt, item.prompt_shown, Trial.Kind.REPEAT, repetition=1)
        for item in rng.sample(tests, min(study.repeats_per_session, len(tests)))
    ]
    return extras.training + allocation.insert_repeats(order, repeats, rng)


def sessions_expire(*, study: Study, now: datetime | None = None) -> int:
    """Expire the study's sessions idle longer than its expiry time; release their unanswered trials.

    Safe to run concurrently: each session is claimed by exactly one caller (locked rows are skipped).
    """
    cutoff = (now or timezone.now()) - timedelta(minutes=study.session_expiry_minutes)
    with transaction.atomic():
        stale = list(
            RatingSession.objects.select_for_update(skip_locked=True)
            .filter(study=study, status__in=RatingSession.LIVE_STATUSES, last_seen_at__lt=cutoff)
            .values_list("pk", "status")
        )
        if not stale:
            return 0
        for status in {s for _, s in stale}:
            RatingSession.objects.filter(pk__in=[pk for pk, s in stale if s == status]).update(
                status=Status.EXPIRED, expired_from=status
            )
        _loads_add(_unanswered_test_stimuli([pk for pk, _ in stale]), -1)
    return len(stale)


def sessions_expire_all(*, study_id: int | None = None) -> int:
    """Expire the abandoned sessions of one study, or of every study that has live sessions."""
    studies = Study.objects.filter(
        pk__in=RatingSession.objects.filter(status__in=RatingSession.LIVE_STATUSES).values("study_id")
    )
    if study_id is not None:
        studies = Study.objects.filter(pk=study_id)
    return sum(sessions_expire(study=study) for study in studies.order_by("pk"))


def stimulus_loads_recount_all(*, study_id: int | None = None) -> int:
    """Rebuild the allocation counters of one study, or of every open or paused study (each in its
    own short transaction, under its allocation lock). Returns the number of studies recounted."""
    ids = (
        [study_id]
        if study_id is not None
        else list(
            Study.objects.filter(status__in=[Study.Status.OPEN, Study.Status.PAUSED])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    )
    recounted = 0
    for pk in ids:
        if not Study.objects.filter(pk=pk).exists():
            continue
        with transaction.atomic():
            allocation.stimulus_loads_recount(study_id=pk)
        recounted += 1
    return recounted


def _unanswered_test_stimuli(session_ids: list[int]) -> list[int]:
    return list(
        Trial.objects.filter(
            session_id__in=session_ids, kind=Trial.Kind.TEST, answered_at__isnull=True
        ).values_list("stimulus_id", flat=True)
    )


def _loads_add(stimulus_ids: list[int], sign: int) -> None:
    """Change counters by sign x (occurrences of each id), in one statement (lock order)."""
    allocation.loads_add({pk: sign * n for pk, n in Counter(stimulus_ids).items()})


def session_resume(*, session: RatingSession) -> RatingSession:
    """Bring back an expired session where it stopped (claiming its unanswered trials again),
    and mark a live one as seen now.

    A live session (every page load of a participant) is marked in one statement that checks
    its status; only an expired one, or one whose status changed meanwhile, takes the locked path.
    """
    if session.status in RatingSession.LIVE_STATUSES:
        now = timezone.now()
        if allocation.on_postgres():  # a prepared statement: every participant page asks
            seen = bool(execute_prepared(_seen_sql(), [now, session.pk, session.status]))
        else:
            seen = bool(
                RatingSession.objects.filter(pk=session.pk, status=session.status).update(last_seen_at=now)
            )
        if seen:
            session.last_seen_at = now
            return session
    return _session_resume_locked(session=session)


@functools.cache
def _seen_sql() -> str:
    table = RatingSession._meta.db_table
    return f"UPDATE {table} SET last_seen_at = %s WHERE id = %s AND status = %s RETURNING 1"  # noqa: S608


@transaction.atomic
def _session_resume_locked(*, session: RatingSession) -> RatingSession:
    locked = RatingSession.objects.select_for_update().get(pk=session.pk)
    if locked.status == Status.EXPIRED:
        _loads_add(_unanswered_test_stimuli([locked.pk]), +1)
        locked.status = locked.expired_from or Status.RATING
        locked.expired_from = ""
    if locked.status in RatingSession.LIVE_STATUSES:
        locked.save(update_fields=["status", "expired_from", "last_seen_at"])
    session.status, session.expired_from = locked.status, locked.expired_from
    return session


@transaction.atomic
def session_next_part(*, session: RatingSession) -> RatingSession:
    """Full mode: start the participant's next session with stimuli they have not rated yet."""
    if session.status != Status.COMPLETED or session.study.allocation_mode != Study.AllocationMode.FULL:
        raise SessionNotRating(_("There is no further part to start."))
    participant = Participant.objects.select_for_update().get(pk=session.participant_id)
    latest = participant.sessions.aggregate(n=Max("number"))["n"] or 0
    if latest > session.number:  # already started (second click, other device)
        return participant.sessions.get(number=latest)
    return session_start(participant=participant, number=latest + 1)


# --- Stages before the trials --------------------------------------------------------------
def _require(session: RatingSession, status: str) -> None:
    if session.status != status:
        raise SessionNotRating(_("This step is already done."))


@transaction.atomic
def session_questionnaire_submit(*, session: RatingSession, answers: dict[str, str]) -> RatingSession:
    """Validate and store the study's questionnaire answers; go on to the display check."""
    _require(session, Status.QUESTIONNAIRE)
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for question in session.study.questionnaire:
        key, kind = str(question.get("key")), question.get("type", "text")
        value = (answers.get(key) or "").strip()[:500]
        if not value:
            if question.get("required", True):
                errors[key] = _("Please answer this question.")
            continue
        if kind == "choice" and value not in [str(c) for c in question.get("choices", [])]:
            errors[key] = _("Please choose one of the options.")
        elif kind == "number":
            try:
                cleaned[key] = float(value)
            except ValueError:
                errors[key] = _("Please enter a number.")
            continue
        cleaned[key] = value
    if errors:
        raise _questionnaire_error(errors)
    session.questionnaire = {"answers": cleaned, "at": timezone.now().isoformat()}
    session.status = Status.DISPLAY_CHECK
    session.save(update_fields=["questionnaire", "status", "last_seen_at"])
    return session


def _questionnaire_error(errors: dict[str, str]) -> InvalidAnswers:
    exc = InvalidAnswers(_("Some answers are missing or invalid."))
    exc.fields = errors  # type: ignore[attr-defined]
    return exc


def _clean_device(device: dict[str, Any]) -> dict[str, Any]:
    cleaned = {key: device[key] for key in DEVICE_KEYS if key in device and len(str(device[key])) <= 500}
    if isinstance(cleaned.get("user_agent"), str):
        cleaned["ua_family"] = devices.ua_family(cleaned["user_agent"])
    return cleaned


@transaction.atomic
def session_display_check_pass(*, session: RatingSession, device: dict[str, Any]) -> RatingSession:
    """Store the device that passed the display check; go on to the instructions."""
    _require(session, Status.DISPLAY_CHECK)
    if not device.get("fits"):
        raise InvalidAnswers(_("The window is too small for the images."))
    session.device = {**_clean_device(device), "checked_at": timezone.now().isoformat(), "changes": []}
    session.status = Status.INSTRUCTIONS
    session.save(update_fields=["device", "status", "last_seen_at"])
    return session


@transaction.atomic
def session_device_change(*, session: RatingSession, device: dict[str, Any]) -> None:
    """Record a change seen during the trials (zoom, resize, other device), bounded in number."""
    locked = RatingSession.objects.select_for_update().get(pk=session.pk)
    changes = list(locked.device.get("changes", []))[-(MAX_DEVICE_CHANGES - 1) :]
    changes.append({**_clean_device(device), "at": timezone.now().isoformat()})
    locked.device = {**locked.device, "changes": changes}
    locked.save(update_fields=["device", "last_seen_at"])


def session_language_set(*, session: RatingSession, language: str) -> RatingSession:
    """Show the session's pages (and record its ratings) in `language`, one of the study's."""
    # A finished session keeps the language its ratings were given in; a new one (even declined) takes it.
    if session.language != language and (
        session.status in RatingSession.LIVE_STATUSES or not session.language
    ):
        session.language = language
        RatingSession.objects.filter(pk=session.pk).update(language=language)
    return session


@transaction.atomic
def session_withdraw(*, session: RatingSession, reason: str) -> RatingSession:
    """End a session the participant cannot finish (the screen cannot show the images, or they
    choose to leave): screened out, its trials released for other participants.

    Like a QC screen-out, none of its ratings count: every test trial leaves the counters (an
    expired session has released its unanswered ones already).
    """
    locked = RatingSession.objects.select_for_update().get(pk=session.pk)
    if locked.status not in (*RatingSession.LIVE_STATUSES, Status.EXPIRED):
        return locked
    trials = Trial.objects.filter(session=locked, kind=Trial.Kind.TEST)
    if locked.status == Status.EXPIRED:
        trials = trials.filter(answered_at__isnull=False)
    _loads_add(list(trials.values_list("stimulus_id", flat=True)), -1)
    if locked.study.allocation_mode == Study.AllocationMode.PRECISION and not locked.is_pilot:
        allocation.sums_remove_session(session_id=locked.pk, participant_id=locked.participant_id)
    locked.status = Status.SCREENED_OUT
    locked.expired_from = ""
    locked.completed_at = timezone.now()
    locked.device = {**locked.device, "withdrawn": reason[:40]}
    locked.save(update_fields=["status", "expired_from", "completed_at", "device", "last_seen_at"])
    return locked


@transaction.atomic
def session_instructions_done(*, session: RatingSession) -> RatingSession:
    _require(session, Status.INSTRUCTIONS)
    first = session.trials.order_by("index").values_list("kind", flat=True).first()
    session.status = Status.TRAINING if first == Trial.Kind.TRAINING else Status.RATING
    session.save(update_fields=["status", "last_seen_at"])
    return session


# --- The rating hot path -------------------------------------------------------------------
@dataclass(frozen=True)
class SubmitResult:
    created: bool
    index: int
    next_index: int
    status: str
    next_trial: dict[str, Any] | None = None
    qc_failures: list[dict[str, Any]] = field(default_factory=list)


def _validate_scores(study: Study, keys: dict[str, int], scores: Any) -> dict[str, float]:
    """Every perspective once, nothing else; integers in range on integer scales, finite numbers
    in [min, max] on sliders."""
    if not isinstance(scores, dict) or set(scores) != set(keys):
        raise InvalidAnswers(_("Answer every question once: %(keys)s.") % {"keys": ", ".join(keys)})
    cleaned: dict[str, float] = {}
    for key, value in scores.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidAnswers(_("The answer to %(key)s is not a number.") % {"key": key})
        if study.scale_kind == Study.ScaleKind.INTEGER and value != int(value):
            raise InvalidAnswers(_("The answer to %(key)s must be a whole number.") % {"key": key})
        if not study.scale_min <= value <= study.scale_max:
            raise InvalidAnswers(
                _("The answer to %(key)s must be between %(min)s and %(max)s.")
                % {"key": key, "min": study.scale_min, "max": study.scale_max}
            )
        cleaned[key] = float(value)
    return cleaned


@functools.cache
def _session_for_rating_sql(*, lock: bool) -> str:
    """The session by token with its study and the study's perspectives and annotation tasks.
    `lock`: the session row locked (the locked path); else joined to trials `index` and
    `index + 1` with their stimuli (the optimistic read): one row per trial found, or one row
    with NULL trial columns."""

    perspectives = f'FROM {Perspective._meta.db_table} p WHERE p.study_id = s.study_id ORDER BY p."order"'
    tasks = f'FROM {AnnotationTask._meta.db_table} a WHERE a.study_id = s.study_id ORDER BY a."order"'
    head = (
        f"SELECT {sql_columns(RatingSession, 's')}, {sql_columns(Study, 'st')}, "
        f"ARRAY(SELECT p.key {perspectives}), ARRAY(SELECT p.id {perspectives}), "
        f"ARRAY(SELECT a.id || ':' || a.kind || ':' || a.key {tasks})"
    )
    joined = f"FROM {RatingSession._meta.db_table} s JOIN {Study._meta.db_table} st ON st.id = s.study_id"
    if lock:
        return f"{head} {joined} WHERE s.token = %s FOR UPDATE OF s"
    return (
        f"{head}, {sql_columns(Trial, 't')}, {sql_columns(Stimulus, 'x')} {joined} "
        f"LEFT JOIN {Trial._meta.db_table} t ON t.session_id = s.id AND t.index IN (%s, %s) "
        f"LEFT JOIN {Stimulus._meta.db_table} x ON x.id = t.stimulus_id "
        "WHERE s.token = %s"
    )


def _session_from_row(row: Sequence[Any]) -> tuple[RatingSession, int]:
    """The session of a `_session_for_rating_sql` row, with its study, `perspective_keys` and
    `annotation_tasks`, and where the row's trial columns start."""
    session, at = session_with_study_from_row(row)
    session.perspective_keys = dict(zip(row[at], row[at + 1], strict=True))  # type: ignore[attr-defined]
    session.annotation_tasks = tasks_from_rows(row[at + 2])  # type: ignore[attr-defined]
    return session, at + 3


def _session_for_rating(token: str) -> RatingSession:
    """The session locked for this request, with its study, the study's perspectives ({key: id} in
    order, as `perspective_keys`) and annotation tasks (`annotation_tasks`) in one query.

    Hand-written SQL on the hot path: the equivalent ORM query (select_related, select_for_update
    and two ArraySubquery annotations) cost more to compile than to run (bench/load).
    """
    if not allocation.on_postgres():
        return _session_for_rating_portable(token)
    with connection.cursor() as cursor:
        cursor.execute(_session_for_rating_sql(lock=True), [token])
        row = cursor.fetchone()
    if row is None:
        raise RatingSession.DoesNotExist
    return _session_from_row(row)[0]


def _session_for_rating_portable(token: str) -> RatingSession:
    """The same as `_session_for_rating` through the ORM (the SQLite fallback)."""
    session = RatingSession.objects.select_related("study").select_for_update().get(token=token)
    session.perspective_keys = dict(  # type: ignore[attr-defined]
        Perspective.objects.filter(study_id=session.study_id).order_by("order").values_list("key", "id")
    )
    session.annotation_tasks = [  # type: ignore[attr-defined]
        TaskRef(id=pk, key=key, kind=kind)
        for pk, key, kind in AnnotationTask.objects.filter(study_id=session.study_id)
        .order_by("order")
        .values_list("id", "key", "kind")
    ]
    return session


@functools.cache
def _trials_for_rating_sql() -> str:
    return (
        f"SELECT {sql_columns(Trial, 't')}, {sql_columns(Stimulus, 's')} FROM {Trial._meta.db_table} t "  # noqa: S608
        f"JOIN {Stimulus._meta.db_table} s ON s.id = t.stimulus_id "
        "WHERE t.session_id = %s AND t.index IN (%s, %s)"
    )


def _trials_for_rating(session_id: int, index: int) -> dict[int, Trial]:
    """Trial `index` and the next one, each with its stimulus (hand-written SQL, as above)."""
    if not allocation.on_postgres():
        found = Trial.objects.filter(session_id=session_id, index__in=[index, index + 1]).select_related(
            "stimulus"
        )
        return {trial.index: trial for trial in found}
    with connection.cursor() as cursor:
        cursor.execute(_trials_for_rating_sql(), [session_id, index, index + 1])
        return _trials_from_rows(cursor.fetchall(), 0)


def _trials_from_rows(rows: Sequence[Sequence[Any]], at: int) -> dict[int, Trial]:
    """{index: trial with its stimulus} of the rows' trial and stimulus columns from `at` on (rows
    whose trial columns are NULL, from an outer join that found none, are left out)."""
    n_trial = len(Trial._meta.concrete_fields)
    trials: dict[int, Trial] = {}
    for row in rows:
        values = row[at:]
        if values[0] is None:
            continue
        trial = _from_row(Trial, values[:n_trial])
        Trial.stimulus.field.set_cached_value(trial, _from_row(Stimulus, values[n_trial:]))
        trials[trial.index] = trial
    return trials


def _read_for_rating(token: str, index: int) -> tuple[RatingSession, dict[int, Trial]] | None:
    """The session (with its study, perspectives and annotation tasks, as `_session_for_rating`)
    and trials `index` and `index + 1` with their stimuli, in one query without a lock."""
    rows = execute_prepared(_session_for_rating_sql(lock=False), [index, index + 1, token])
    if not rows:
        return None
    session, at = _session_from_row(rows[0])
    return session, _trials_from_rows(rows, at)


def rating_submit(
    *,
    token: str,
    trial_index: int,
    scores: Any,
    idempotency_key: uuid.UUID,
    annotations: Any = None,
    stimulus_id: int | None = None,
    viewing_ms: int | None = None,
    response_ms: int | None = None,
    client_time: datetime | None = None,
) -> SubmitResult:
    """Store one trial's answers (all perspectives, and every annotation task of the study:
    `annotations` {task key: answer}, see ratings.annotations) and advance the session.

    The session row is locked for the request, so a retry or a second device waits and then sees
    the stored answer. Same key + same answers again -> the stored result (created=False); the key
    with other answers -> IdempotencyKeyReused; another key for an answered trial ->
    TrialAlreadyAnswered. Nothing is stored in any error case.

    On PostgreSQL the usual answer (the session's next trial, in order, nothing special to do)
    takes the optimistic path (`_submit_optimistic`): read without a lock, then one guarded
    statement stores it. Everything else, including that statement finding the session moved
    meanwhile, takes the locked path below, which decides every case.
    """
    if allocation.on_postgres():
        done = _submit_optimistic(
            token=token,
            trial_index=trial_index,
            scores=scores,
            idempotency_key=idempotency_key,
            annotations=annotations,
            stimulus_id=stimulus_id,
            viewing_ms=viewing_ms,
            response_ms=response_ms,
            client_time=client_time,
        )
        if done is not None:
            return done
    try:
        with transaction.atomic():
            try:
                session = _session_for_rating(token)
            except RatingSession.DoesNotExist:
                raise TrialNotFound(_("No such session.")) from None
            keys: dict[str, int] = session.perspective_keys  # type: ignore[attr-defined]
            cleaned = _validate_scores(session.study, keys, scores)
            trials = _trials_for_rating(session.pk, trial_index)
            trial = trials.get(trial_index)
            if trial is None or (stimulus_id is not None and trial.stimulus_id != stimulus_id):
                raise TrialNotFound(_("This session has no such trial."))
            notes = annotations_clean(
                tasks=session.annotation_tasks,  # type: ignore[attr-defined]
                annotations=annotations,
                prompt=trial.prompt_shown,
            )
            if trial.answered_at is not None:
                return _replay(
                    session=session, trial=trial, keys=keys, scores=cleaned, notes=notes, key=idempotency_key
                )
            if trial_index != session.current_index:
                raise TrialOutOfOrder(
                    _("Answers must be sent in order: trial %(n)s is next.") % {"n": session.current_index}
                )
            if session.status not in (Status.TRAINING, Status.RATING, Status.EXPIRED):
                raise SessionNotRating(_("This session is not accepting ratings."))
            answer = _answer(
                session=session,
                trial=trial,
                next_trial=trials.get(trial_index + 1),
                keys=keys,
                scores=cleaned,
                notes=notes,
                key=idempotency_key,
                viewing_ms=viewing_ms,
                response_ms=response_ms,
                client_time=client_time,
            )
            return _store(session=session, trial=trial, keys=keys, scores=cleaned, answer=answer)
    except IntegrityError:
        # The key was stored before for another trial (a unique constraint said so; all rolled back).
        raise IdempotencyKeyReused(_("This idempotency key was already used for other answers.")) from None


def _submit_optimistic(
    *,
    token: str,
    trial_index: int,
    scores: Any,
    idempotency_key: uuid.UUID,
    annotations: Any,
    stimulus_id: int | None,
    viewing_ms: int | None,
    response_ms: int | None,
    client_time: datetime | None,
) -> SubmitResult | None:
    """The usual answer in two round trips and no explicit transaction, or None (nothing stored):
    then the locked path decides.

    Taken only when the unlocked read shows the plain case: the session rating or training, this
    trial next and unanswered, valid answers, no screen-out, no precision bookkeeping, not
    expired. The write is one statement (atomic on its own) whose first part moves the session
    on only if it is still where the read saw it (same current trial, same status); the ratings,
    annotations and the trial's answer go in only with that move. A concurrent change (a retry
    on another connection, an expiry, a withdrawal) moves the session first, so the statement
    stores nothing, or a unique constraint refuses it and it is rolled back whole: either way the
    locked path then answers, as it always did.
    """
    read = _read_for_rating(token, trial_index)
    if read is None:
        return None
    session, trials = read
    trial = trials.get(trial_index)
    study = session.study
    if (
        trial is None
        or (stimulus_id is not None and trial.stimulus_id != stimulus_id)
        or trial.answered_at is not None
        or trial_index != session.current_index
        or session.status not in (Status.TRAINING, Status.RATING)
        or (study.allocation_mode == Study.AllocationMode.PRECISION and not session.is_pilot)
    ):
        return None
    keys: dict[str, int] = session.perspective_keys  # type: ignore[attr-defined]
    try:
        cleaned = _validate_scores(study, keys, scores)
        notes = annotations_clean(
            tasks=session.annotation_tasks,  # type: ignore[attr-defined]
            annotations=annotations,
            prompt=trial.prompt_shown,
        )
    except InvalidAnswers:
        return None  # the locked path says what is wrong
    answer = _answer(
        session=session,
        trial=trial,
        next_trial=trials.get(trial_index + 1),
        keys=keys,
        scores=cleaned,
        notes=notes,
        key=idempotency_key,
        viewing_ms=viewing_ms,
        response_ms=response_ms,
        client_time=client_time,
    )
    if answer.screen_out:
        return None
    guard = (session.current_index, session.status)
    try:
        with _on_its_own():
            moved = _write(**answer.write, guard=guard)
    except IntegrityError:
        return None  # stored before (a retry): the statement was rolled back whole
    return answer.result if moved else None


def _replay(
    *,
    session: RatingSession,
    trial: Trial,
    keys: dict[str, int],
    scores: dict[str, float],
    notes: list[CleanAnswer],
    key: uuid.UUID,
) -> SubmitResult:
    stored = list(
        Rating.objects.filter(
            session_id=session.pk, stimulus_id=trial.stimulus_id, repetition=trial.repetition
        ).values_list("perspective_id", "score", "idempotency_key")
    )
    if not any(k == key for _p, _s, k in stored):
        raise TrialAlreadyAnswered(_("This trial was already answered."))
    by_id = {pid: score for pid, score, _k in stored}
    if any(by_id.get(keys[k]) != v for k, v in scores.items()) or not _same_notes(trial, notes):
        raise IdempotencyKeyReused(_("This idempotency key was already used for other answers."))
    return SubmitResult(
        created=False, index=trial.index, next_index=session.current_index, status=session.status
    )


def _same_notes(trial: Trial, notes: list[CleanAnswer]) -> bool:
    """Whether these annotations are the ones stored with the trial."""
    stored = {
        task_id: (nothing, points, tokens)
        for task_id, nothing, points, tokens in Annotation.objects.filter(trial_id=trial.pk).values_list(
            "task_id", "nothing", "points", "tokens"
        )
    }
    return stored == {n.task.id: n.stored_form() for n in notes}


@dataclass(frozen=True)
class _Answer:
    """What storing one answer writes (`_write`'s arguments) and returns."""

    write: dict[str, Any]
    result: SubmitResult
    screen_out: bool


def _answer(
    *,
    session: RatingSession,
    trial: Trial,
    next_trial: Trial | None,
    keys: dict[str, int],
    scores: dict[str, float],
    notes: list[CleanAnswer],
    key: uuid.UUID,
    viewing_ms: int | None,
    response_ms: int | None,
    client_time: datetime | None,
) -> _Answer:
    """The rows, the session's move and the result of answering `trial` (nothing written here)."""
    now = timezone.now()
    ratings = [
        Rating(
            session_id=session.pk,
            trial_id=trial.pk,
            stimulus_id=trial.stimulus_id,
            perspective_id=keys[k],
            score=v,
            repetition=trial.repetition,
            kind=trial.kind,
            prompt_shown=trial.prompt_shown,
            trial_index=trial.index,
            viewing_ms=viewing_ms,
            response_ms=response_ms,
            client_time=client_time,
            idempotency_key=key,
            language=session.language,
        )
        for k, v in scores.items()
    ]
    annotations = [
        Annotation(
            session_id=session.pk,
            trial_id=trial.pk,
            stimulus_id=trial.stimulus_id,
            task_id=n.task.id,
            kind=trial.kind,
            nothing=n.nothing,
            points=n.points,
            tokens=n.tokens,
            answered_at=now,
        )
        for n in notes
    ]
    failures = _qc_failures(session=session, trial=trial, keys=keys, scores=scores, last=next_trial is None)
    study = session.study
    screen_out = bool(failures) and study.qc_action == Study.QcAction.SCREEN_OUT
    if screen_out:
        status = Status.SCREENED_OUT
    elif next_trial is None:
        status = Status.COMPLETED
    else:
        status = Status.TRAINING if next_trial.kind == Trial.Kind.TRAINING else Status.RATING
    fields: dict[str, Any] = {
        "current_index": trial.index + 1,
        "status": status,
        "last_seen_at": now,
        "expired_from": "",
    }
    if failures:
        fields["qc_failures"] = [*session.qc_failures, *failures]
    if status in (Status.COMPLETED, Status.SCREENED_OUT):
        fields["completed_at"] = now
    return _Answer(
        write={
            "ratings": ratings,
            "annotations": annotations,
            "session_id": session.pk,
            "trial_id": trial.pk,
            "answered_at": now,
            "fields": fields,
        },
        result=SubmitResult(
            created=True,
            index=trial.index,
            next_index=trial.index + 1,
            status=status,
            next_trial=trial_payload(next_trial) if next_trial is not None and not screen_out else None,
            qc_failures=failures,
        ),
        screen_out=screen_out,
    )


def _store(
    *, session: RatingSession, trial: Trial, keys: dict[str, int], scores: dict[str, float], answer: _Answer
) -> SubmitResult:
    """Store `answer` to `trial` of the locked session (the locked path), with every side effect."""
    if session.status == Status.EXPIRED:
        # Came back after the expiry released the trials: claim the unanswered ones again.
        _loads_add(_unanswered_test_stimuli([session.pk]), +1)
    _write(**answer.write)
    study = session.study
    screen_out = answer.screen_out
    precise = study.allocation_mode == Study.AllocationMode.PRECISION and not session.is_pilot
    if precise and trial.kind == Trial.Kind.TEST and not screen_out:
        allocation.sums_add(
            study_id=study.pk,
            stimulus_id=trial.stimulus_id,
            participant_id=session.participant_id,
            scores={keys[k]: v for k, v in scores.items()},
        )
    if screen_out:
        # Screened-out ratings are not valid: every test stimulus of the session is needed again.
        _loads_add(
            list(session.trials.filter(kind=Trial.Kind.TEST).values_list("stimulus_id", flat=True)), -1
        )
        if precise:
            allocation.sums_remove_session(session_id=session.pk, participant_id=session.participant_id)
    return answer.result


def _write(
    *,
    ratings: list[Rating],
    annotations: list[Annotation],
    session_id: int,
    trial_id: int,
    answered_at: datetime,
    fields: dict[str, Any],
    guard: tuple[int, str] | None = None,
) -> bool:
    """Store the ratings (and annotations), mark the trial answered and move the session on, in one
    statement (one round trip on the hot path, not three). `fields` are RatingSession columns.

    `guard` (current index, status): move the session only if it is still there, and write the
    rest only with that move; returns whether it moved (always True without a guard). The rows go
    in one VALUES list per table (`_values_insert`), not through bulk_create.
    """
    if not allocation.on_postgres():
        Rating.objects.bulk_create(ratings)
        Annotation.objects.bulk_create(annotations)
        Trial.objects.filter(pk=trial_id).update(answered_at=answered_at)
        RatingSession.objects.filter(pk=session_id).update(**fields)
        return True
    q = connection.ops.quote_name
    session_fields = [cast("models.Field[Any, Any]", RatingSession._meta.get_field(name)) for name in fields]
    sets = ", ".join(f"{q(f.column)} = %s" for f in session_fields)
    session_values = [
        f.get_db_prep_save(v, connection) for f, v in zip(session_fields, fields.values(), strict=True)
    ]
    moved = f"UPDATE {RatingSession._meta.db_table} SET {sets} WHERE id = %s"  # noqa: S608 - model names
    only_if = "EXISTS (SELECT 1 FROM moved)" if guard else ""
    insert, rating_values = _values_insert(ratings, only_if=only_if, varying=("perspective_id", "score"))
    notes, note_values = _values_insert(annotations, only_if=only_if) if annotations else ("", [])
    noted = f"noted AS ({notes}), " if notes else ""
    answered = f"UPDATE {Trial._meta.db_table} SET answered_at = %s WHERE id = %s"  # noqa: S608
    if guard is None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH stored AS ({insert}), {noted}answered AS ({answered}) {moved}",
                [*rating_values, *note_values, answered_at, trial_id, *session_values, session_id],
            )
        return True
    rows = execute_prepared(
        f"WITH moved AS ({moved} AND current_index = %s AND status = %s RETURNING 1), "
        f"stored AS ({insert}), {noted}answered AS ({answered} AND {only_if}) "
        "SELECT count(*) FROM moved",
        [*session_values, session_id, *guard, *rating_values, *note_values, answered_at, trial_id],
    )
    return bool(rows and rows[0][0])


def _values_insert(
    objs: Sequence[models.Model],
    *,
    only_if: str = "",
    expressions: dict[str, str] | None = None,
    varying: Sequence[str] = (),
) -> tuple[str, list[Any]]:
    """An INSERT of these new rows (one model) as one VALUES list, and its parameters; with
    `only_if` (an SQL condition), the rows go in only when it holds (each value then carries its
    column's type, as the VALUES list no longer stands directly in the INSERT). `expressions`
    {field attname: SQL}: those columns take the SQL instead of the objects' values. `varying`
    (field attnames): only these differ between the rows; every other column is sent once, with
    the first object's value (a trial's ratings share all but the perspective and the score:
    18 parameters instead of 42, and a statement psycopg can cache).

    Not bulk_create on the hot paths: on PostgreSQL it sends one array per column (INSERT ...
    SELECT FROM UNNEST), and psycopg's array dumping cost more CPU than the rest of a submission
    (profiled). Columns, defaults and conversions are the model's own, as bulk_create's.
    """
    meta = objs[0]._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    given = expressions or {}
    where = f" WHERE {only_if}" if only_if else ""

    def value(obj: models.Model, f: "models.Field[Any, Any]") -> Any:
        return f.get_db_prep_save(f.pre_save(obj, add=True), connection)

    if varying:
        once = [f for f in fields if f.attname not in varying]
        each = [f for f in fields if f.attname in varying]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in [*once, *each])
        head = ", ".join(given.get(f.attname) or f"%s::{_cast_type(f)}" for f in once)
        row = "(" + ", ".join(f"%s::{_cast_type(f)}" for f in each) + ")"
        values = [value(objs[0], f) for f in once if f.attname not in given]
        values += [value(obj, f) for obj in objs for f in each]
        names = ", ".join(f"v{i}" for i in range(len(each)))
        return (
            f"INSERT INTO {meta.db_table} ({columns}) SELECT {head}, {names} "  # noqa: S608 - model names
            f"FROM (VALUES {', '.join([row] * len(objs))}) AS v ({names}){where}",
            values,
        )
    if only_if:
        row = "(" + ", ".join(given.get(f.attname) or f"%s::{_cast_type(f)}" for f in fields) + ")"
    else:
        row = "(" + ", ".join(given.get(f.attname) or "%s" for f in fields) + ")"
    values = [value(obj, f) for obj in objs for f in fields if f.attname not in given]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    rows = ", ".join([row] * len(objs))
    if only_if:
        return (
            f"INSERT INTO {meta.db_table} ({columns}) SELECT * FROM (VALUES {rows}) AS v{where}",  # noqa: S608
            values,
        )
    return f"INSERT INTO {meta.db_table} ({columns}) VALUES {rows}", values  # noqa: S608


@functools.cache
def _cast_type(field: "models.Field[Any, Any]") -> str:
    """The column's type for a cast, without a length (a cast to varchar(n) would cut, not refuse)."""
    return re.sub(r"\(.*\)", "", field.db_type(connection) or "text").strip()


def _qc_failures(
    *, session: RatingSession, trial: Trial, keys: dict[str, int], scores: dict[str, float], last: bool
) -> list[dict[str, Any]]:
    """Failed checks of this trial (and of the whole session on its last trial), as stored."""
    study = session.study
    tol = qc.tolerance(scale_kind=study.scale_kind, scale_min=study.scale_min, scale_max=study.scale_max)
    found: list[tuple[qc.FailureKind, Any]] = []
    if trial.kind == Trial.Kind.GOLD:
        failed = qc.gold_failures(scores=scores, reference=trial.stimulus.reference_scores, tol=tol)
        if failed:
            found.append(("gold", failed))
    elif trial.kind == Trial.Kind.TRAP:
        failed_trap = qc.trap_failure(scores=scores, scale_min=study.scale_min, scale_max=study.scale_max)
        if failed_trap:
            found.append(("trap", failed_trap))
    elif trial.kind == Trial.Kind.REPEAT:
        key_of = {pid: k for k, pid in keys.items()}
        first = {
            key_of[pid]: score
            for pid, score in Rating.objects.filter(
                session_id=session.pk, stimulus_id=trial.stimulus_id, repetition=0
            ).values_list("perspective_id", "score")
        }
        failed = qc.repeat_failures(scores=scores, first=first, tol=tol)
        if failed:
            found.append(("repeat", failed))
    # This trial's answers are not stored yet (one statement stores them with the session's move).
    current = {keys[k]: v for k, v in scores.items()} if trial.kind == Trial.Kind.TEST else None
    if (
        last
        and study.check_straightlining
        and _session_straightlines(session=session, current=(trial.index, current))
    ):
        found.append(("straightlining", {}))
    at = timezone.now().isoformat()
    return [
        qc.QcFailure(
            kind=kind, trial=trial.index, stimulus=trial.stimulus_id, at=at, details=details
        ).as_json()
        for kind, details in found
    ]


def _session_straightlines(*, session: RatingSession, current: tuple[int, dict[int, float] | None]) -> bool:
    """Straight-lining over the session's stored test answers plus `current` (index, {perspective
    id: score}), the answers being stored now (None: not a test trial)."""
    per_trial: dict[int, dict[int, float]] = {}
    for index, pid, score in Rating.objects.filter(session_id=session.pk, kind=Trial.Kind.TEST).values_list(
        "trial_index", "perspective_id", "score"
    ):
        per_trial.setdefault(index, {})[pid] = score
    index, answers = current
    if answers is not None:
        per_trial[index] = answers
    return qc.is_straightlining(per_trial.values())


# --- Exclusions and top-up ---------------------------------------------------------------------
def participants_exclude(*, study: Study, reasons: dict[int, str]) -> int:
    """Make `reasons` ({participant id: reason}) the study's exclusions; clear everyone else's.

    Call with the exclusions of an analysis over real data only: pilot participants are never
    touched (their data never drives allocation). When the exclusions changed, the allocation
    counters are recounted after commit, so that the study reopens for exactly the valid ratings
    now missing (top-up). Returns the number of participants whose exclusion changed.
    """
    real = Participant.objects.filter(study=study, is_pilot=False)
    changed = real.exclude(pk__in=reasons).exclude(excluded_reason="").update(excluded_reason="")
    by_reason: dict[str, list[int]] = {}
    for pid, reason in reasons.items():
        by_reason.setdefault(reason[:200], []).append(pid)
    for reason, ids in by_reason.items():
        changed += real.filter(pk__in=ids).exclude(excluded_reason=reason).update(excluded_reason=reason)
    if changed:
        transaction.on_commit(functools.partial(stimulus_loads_recount_enqueue, study_id=study.pk))
    return changed


def stimulus_loads_recount_enqueue(*, study_id: int) -> bool:
    """Publish the recount of the study's counters; False (logged) when the broker refuses it:
    the periodic recount (CELERY_BEAT_SCHEDULE) catches up."""
    try:
        job_send("ratings.tasks.recount_stimulus_loads_task", study_id)
    except (KombuError, OSError) as exc:
        logger.warning("study %s: could not publish the recount: %s", study_id, exc)
        return False
    return True
