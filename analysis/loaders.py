"""ORM rows -> long-format arrays for the pure core: the only module that knows both worlds.

Ratings are streamed from PostgreSQL with a server-side cursor (``QuerySet.iterator``) into
compact arrays, so memory grows with the number of ratings (32 bytes each), never with
stimuli x raters.

Index spaces, shared by every perspective of a study:

- stimulus ``k`` is the k-th *test* stimulus of the study by ``Stimulus.position``; the rows of
  ``mosz{d}.mat`` follow this order. Positions may be sparse (training or gold stimuli between
  test ones, or an imported subset): row ``k`` then belongs to the k-th smallest test position,
  and ``mos.csv``'s ``position`` column gives the real position;
- rater ``i`` is the i-th participant with at least one counted rating, ordered by the label
  ``raw_ratings.csv`` gives them (their pseudonymous code, or ``panel:external_id``) with
  :func:`analysis.pipeline.typed_order`, the rule ``compute_mos`` applies to that file. One
  participant may have several sessions; all count as one rater.

:func:`study_ratings_load` is the database loader of the one pipeline (:mod:`analysis.pipeline`);
:func:`raw_rating_rows` writes the rows that let ``compute_mos`` reproduce a run
(docs/exports.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL

from analysis.pipeline import AnalysisInput, RichInput, typed_order
from analysis.pipeline import PerspectiveInfo as PipelinePerspective
from analysis.stats import Ratings
from analysis.stats.rich import RegionAnswers, WordAnswers, tokenize_prompt
from experiments.models import AnnotationTask, Perspective, Stimulus, Study
from ratings.devices import viewing_conditions
from ratings.models import Annotation, Participant, Rating, RatingSession, Trial
from ratings.qc import failures_from_json as qc_failures_from_json

CHUNK_SIZE = 20_000


@dataclass(frozen=True)
class PerspectiveInfo:
    id: int
    key: str
    label: str


@dataclass(frozen=True)
class QcExclusion:
    participant_id: int
    code: str
    reason: str


@dataclass(frozen=True)
class StudyRatings:
    """The counted test ratings of a study, per perspective, with the metadata for exports."""

    perspectives: tuple[PerspectiveInfo, ...]
    stimuli: tuple[dict[str, Any], ...]  # metadata of stimulus index k (position order)
    participant_ids: tuple[int, ...]  # participant id of rater index i
    rater_codes: tuple[str, ...]  # pseudonymous Participant.code of rater index i
    ratings: dict[str, Ratings]  # perspective key -> that perspective's ratings
    qc_excluded: tuple[QcExclusion, ...]
    n_ratings: int
    fingerprint: str
    notes: tuple[str, ...] = field(default=())
    rater_ids: tuple[Any, ...] = field(default=())  # label of rater index i, as in raw_ratings.csv
    scale: tuple[float, float] | None = None

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.perspectives]

    def pipeline_input(self) -> AnalysisInput:
        """These ratings as the input of :func:`analysis.pipeline.analyse`."""
        return AnalysisInput(
            perspectives=tuple(PipelinePerspective(p.key, p.label) for p in self.perspectives),
            stimuli=self.stimuli,
            rater_ids=self.rater_ids or self.rater_codes,
            ratings=self.ratings,
            fingerprint=self.fingerprint,
            scale=self.scale,
            notes=self.notes,
        )


def _pilot_filter(qs: QuerySet[Rating], *, include_pilot: bool, pilot_only: bool) -> QuerySet[Rating]:
    if pilot_only:
        return qs.filter(session__is_pilot=True)
    if not include_pilot:
        return qs.exclude(Q(session__is_pilot=True) | Q(session__participant__is_pilot=True))
    return qs


def _counted_ratings(
    study: Study, *, include_pilot: bool, rating_id_max: int | None, pilot_only: bool = False
) -> QuerySet[Rating]:
    """Ratings that may enter the MOS: test trials on test stimuli, pilot data unless asked
    (or only pilot data: the pilot mode's own analysis)."""
    qs = Rating.objects.filter(session__study=study, kind=Trial.Kind.TEST, stimulus__role=Stimulus.Role.TEST)
    if rating_id_max is not None:
        qs = qs.filter(id__lte=rating_id_max)
    # In id order, the order of raw_ratings.csv: compute_mos on it then sums in the same order
    # (bit-identical results, the MLE too, whose answer is only defined to its tolerance).
    return _pilot_filter(qs, include_pilot=include_pilot, pilot_only=pilot_only).order_by("id")


def qc_failures_by_participant(study: Study) -> dict[int, str]:
    """Participant id -> the reasons of their sessions' quality-control failures."""
    out: dict[int, list[str]] = {}
    sessions = (
        RatingSession.objects.filter(study=study)
        .exclude(qc_failures=[])
        .order_by("participant_id", "number")
        .values_list("participant_id", "qc_failures")
    )
    for participant_id, failures in sessions.iterator(chunk_size=CHUNK_SIZE):
        if failures:
            out.setdefault(participant_id, []).extend(f.describe() for f in qc_failures_from_json(failures))
    return {pid: "quality control: " + "; ".join(reasons) for pid, reasons in out.items()}


def test_stimuli(study: Study) -> list[dict[str, Any]]:
    """Metadata of the study's test stimuli in position order (stimulus index k = entry k)."""
    rows = study.stimuli.filter(role=Stimulus.Role.TEST).order_by("position")
    return [
        {
            "id": pk,
            "position": position,
            "name": name,
            "file": name,
            "model": generator,
            "prompt": prompt,
            "categories": dict(categories or {}),
        }
        for pk, position, name, generator, prompt, categories in rows.values_list(
            "id", "position", "name", "generator", "prompt", "categories"
        ).iterator(chunk_size=CHUNK_SIZE)
    ]


#: A row of PostgreSQL's binary COPY of (bigint, bigint, bigint, double precision), no NULLs:
#: the field count, then each field's byte length and big-endian value.
_COPY_ROW = np.dtype(
    [("fields", ">i2")]
    + [
        (f"{name}{part}", kind)
        for name in "psvx"
        for part, kind in (("_len", ">i4"), ("", ">i8" if name != "x" else ">f8"))
    ]
)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00"


def _rating_columns(rows: QuerySet[Any, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(participant, stimulus, perspective) ids as int64 and scores as float64, in the query's order.

    On PostgreSQL one binary COPY read by numpy: no Python object per value (reading 144,000
    ratings row by row was most of an analysis job's loading). Elsewhere the rows one by one.
    """
    if connection.vendor == "postgresql":
        sql, params = rows.query.sql_with_params()
        typed = f"SELECT p::bigint, s::bigint, v::bigint, x::double precision FROM ({sql}) AS q(p, s, v, x)"  # noqa: S608
        query = f"COPY ({typed}) TO STDOUT (FORMAT BINARY)"
        with connection.cursor() as cursor, cursor.cursor.copy(query, params) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        if not data.startswith(_COPY_HEADER) or data[11:19] != bytes(8) or not data.endswith(b"\xff\xff"):
            raise RuntimeError("unexpected COPY output from the database")
        body = np.frombuffer(data, dtype=_COPY_ROW, offset=19, count=(len(data) - 21) // _COPY_ROW.itemsize)
        lengths = [body[f"{name}_len"] for name in "psvx"]
        if (
            (len(data) - 21) % _COPY_ROW.itemsize
            or np.any(body["fields"] != 4)
            or any(np.any(n != 8) for n in lengths)
        ):
            raise RuntimeError("unexpected COPY rows from the database")
        return tuple(body[name].astype(body[name].dtype.newbyteorder("=")) for name in "psvx")  # type: ignore[return-value]
    pid, sid, vid = array("q"), array("q"), array("q")
    score = array("d")
    for participant_id, stimulus_id, perspective_id, value in rows.iterator(chunk_size=CHUNK_SIZE):
        pid.append(participant_id)
        sid.append(stimulus_id)
        vid.append(perspective_id)
        score.append(value)
    p_arr, s_arr, v_arr = (np.frombuffer(a, dtype=np.int64) for a in (pid, sid, vid))
    return p_arr, s_arr, v_arr, np.frombuffer(score, dtype=np.float64)


def _fingerprint(
    participant: np.ndarray,
    stimulus: np.ndarray,
    perspective: np.ndarray,
    score: np.ndarray,
    stimulus_ids: Sequence[int],
) -> str:
    """SHA-256 over the rating rows sorted, and the stimulus order they are indexed by."""
    order = np.lexsort((score, perspective, stimulus, participant))
    h = hashlib.sha256(f"study-ratings-v1:{len(score)}".encode())
    h.update(np.asarray(stimulus_ids, dtype="<i8").tobytes())
    for arr, dtype in ((participant, "<i8"), (stimulus, "<i8"), (perspective, "<i8"), (score, "<f8")):
        h.update(np.ascontiguousarray(arr[order], dtype=dtype).tobytes())
    return h.hexdigest()


def rater_label(code: str, panel: str, external_id: str | None, *, include_panel_ids: bool) -> str:
    """How ``raw_ratings.csv`` and the result files name a rater."""
    return f"{panel}:{external_id}" if include_panel_ids and external_id else code


def study_ratings_load(
    study: Study,
    *,
    include_pilot: bool = False,
    exclude_qc_failures: bool = True,
    rating_id_max: int | None = None,
    pilot_only: bool = False,
    include_panel_ids: bool = False,
) -> StudyRatings:
    """Read the counted ratings of ``study`` into per-perspective :class:`Ratings`.

    Raises ``ValueError`` with a message for the researcher when nothing can be analysed.
    """
    perspectives = tuple(
        PerspectiveInfo(p.id, p.key, p.label)
        for p in Perspective.objects.filter(study=study).order_by("order")
    )
    if not perspectives:
        raise ValueError("The study has no perspectives to analyse.")
    stimuli = tuple(test_stimuli(study))
    if not stimuli:
        raise ValueError("The study has no test stimuli.")
    qc = qc_failures_by_participant(study) if exclude_qc_failures else {}

    rows = _counted_ratings(
        study, include_pilot=include_pilot, rating_id_max=rating_id_max, pilot_only=pilot_only
    ).values_list("session__participant_id", "stimulus_id", "perspective_id", "score")
    p_arr, s_arr, v_arr, x_arr = _rating_columns(rows)
    if x_arr.size == 0:
        raise ValueError(
            "There are no test ratings to analyse yet"
            + ("" if include_pilot else " (pilot data is left out unless included)")
            + "."
        )

    excluded_ids = np.fromiter(qc, dtype=np.int64, count=len(qc))
    qc_rows = np.isin(p_arr, excluded_ids)
    qc_excluded = _qc_exclusions(qc, np.unique(p_arr[qc_rows]))
    keep = ~qc_rows
    p_arr, s_arr, v_arr, x_arr = p_arr[keep], s_arr[keep], v_arr[keep], x_arr[keep]
    if x_arr.size == 0:
        raise ValueError("Every rater failed quality control; no ratings are left to analyse.")

    stimulus_ids = np.asarray([s["id"] for s in stimuli], dtype=np.int64)
    by_id = np.unique(p_arr)
    people = {
        pk: (code, rater_label(code, panel, ext, include_panel_ids=include_panel_ids))
        for pk, code, panel, ext in Participant.objects.filter(id__in=by_id.tolist()).values_list(
            "id", "code", "panel", "external_id"
        )
    }
    # Raters in the order compute_mos gives the labels of raw_ratings.csv (same rows, same splits).
    label_order, labels = typed_order([people[int(i)][1] for i in by_id])
    participant_ids = by_id[label_order]
    position_of = np.empty(by_id.size, dtype=np.intp)
    position_of[label_order] = np.arange(by_id.size)
    rater = position_of[np.searchsorted(by_id, p_arr)]
    order = np.argsort(stimulus_ids, kind="stable")
    stim_index = order[np.searchsorted(stimulus_ids[order], s_arr)]
    per: dict[str, Ratings] = {}
    notes: list[str] = []
    for p in perspectives:
        mask = v_arr == p.id
        if not mask.any():
            notes.append(f"perspective {p.key} has no ratings; it is left out")
            continue
        per[p.key] = Ratings.from_arrays(
            rater=rater[mask],
            stimulus=stim_index[mask],
            score=x_arr[mask],
            n_raters=participant_ids.size,
            n_stimuli=len(stimuli),
        )
    return StudyRatings(
        perspectives=tuple(p for p in perspectives if p.key in per),
        stimuli=stimuli,
        participant_ids=tuple(int(i) for i in participant_ids),
        rater_codes=tuple(people[int(i)][0] for i in participant_ids),
        rater_ids=tuple(labels),
        scale=(float(study.scale_min), float(study.scale_max)),
        ratings=per,
        qc_excluded=qc_excluded,
        n_ratings=int(x_arr.size),
        fingerprint=_fingerprint(p_arr, s_arr, v_arr, x_arr, stimulus_ids.tolist()),
        notes=tuple(notes),
    )


def _opener(name: str) -> Any:
    return lambda: default_storage.open(name, "rb")


def _rich_images(data: StudyRatings) -> tuple[list[Any], dict[int, int]]:
    """The rich-feedback description of stimulus index k, and stimulus id -> k."""
    from analysis.rich_exports import RichImage

    ids = [int(s["id"]) for s in data.stimuli]
    rows = {
        pk: (name, width, height, prompt, image)
        for pk, name, width, height, prompt, image in Stimulus.objects.filter(id__in=ids).values_list(
            "id", "name", "width", "height", "prompt", "image"
        )
    }
    images = []
    for pk in ids:
        name, width, height, prompt, image = rows[pk]
        images.append(
            RichImage(
                name=name,
                size=(width, height),
                prompt=prompt,
                tokens=tokenize_prompt(prompt),
                source=_opener(image) if image else None,
            )
        )
    return images, {pk: k for k, pk in enumerate(ids)}


def study_annotations_load(
    study: Study,
    data: StudyRatings,
    *,
    include_pilot: bool = False,
    pilot_only: bool = False,
    rating_id_max: int | None = None,
) -> RichInput | None:
    """Read the annotation answers of the run's raters (issue 17); None when the study has no tasks.

    The same answers as the scores: test trials on test stimuli, the same pilot rule, the same
    snapshot (answers stored with a rating up to ``rating_id_max``; an answer is stored in the
    transaction of its trial's ratings), and only raters of ``data`` (quality-control failures
    are already out). Word marks index the tokens of the stimulus' prompt; an answer given on a
    prompt worded differently (``Trial.prompt_shown``) is left out, with a note.
    """
    tasks = {t.kind: t for t in AnnotationTask.objects.filter(study=study)}
    if not tasks:
        return None
    images, index_of = _rich_images(data)
    rater_of = {pid: i for i, pid in enumerate(data.participant_ids)}
    qs = Annotation.objects.filter(
        session__study=study, kind=Trial.Kind.TEST, stimulus__role=Stimulus.Role.TEST
    )
    if pilot_only:
        qs = qs.filter(session__is_pilot=True)
    elif not include_pilot:
        qs = qs.exclude(Q(session__is_pilot=True) | Q(session__participant__is_pilot=True))
    if rating_id_max is not None:
        qs = qs.filter(Exists(Rating.objects.filter(trial_id=OuterRef("trial_id"), id__lte=rating_id_max)))
    answers: dict[str, dict[tuple[int, int], Any]] = {"regions": {}, "words": {}}
    reworded = duplicates = 0
    rows = qs.order_by("id").values_list(
        "session__participant_id", "stimulus_id", "task__kind", "points", "tokens", "trial__prompt_shown"
    )
    for participant_id, stimulus_id, kind, points, token_list, prompt_shown in rows.iterator(
        chunk_size=CHUNK_SIZE
    ):
        rater, image = rater_of.get(participant_id), index_of.get(stimulus_id)
        if rater is None or image is None:
            continue
        key = (rater, image)
        if key in answers[kind]:
            duplicates += 1  # a participant shown the same image in two sessions: first answer counts
            continue
        if kind == AnnotationTask.Kind.REGIONS:
            answers[kind][key] = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        elif tokenize_prompt(prompt_shown) != images[image].tokens:
            reworded += 1
        else:
            answers[kind][key] = WordAnswers.marks_from_indices(token_list, len(images[image].tokens))
    notes = []
    if reworded:
        notes.append(f"{reworded} word answers were given on a differently worded prompt and are left out")
    if duplicates:
        notes.append(f"{duplicates} repeated answers of a rater on one image are left out (the first counts)")
    return RichInput(
        images=tuple(images),
        regions=_answers(RegionAnswers, answers["regions"]) if "regions" in tasks else None,
        words=_answers(WordAnswers, answers["words"]) if "words" in tasks else None,
        task_labels={kind: t.label for kind, t in tasks.items()},
        notes=tuple(notes),
    )


def _answers(cls: Any, by_key: dict[tuple[int, int], Any]) -> Any:
    keys = sorted(by_key)
    rater = np.array([k[0] for k in keys], dtype=np.intp)
    image = np.array([k[1] for k in keys], dtype=np.intp)
    return cls(rater, image, [by_key[k] for k in keys])


def _qc_exclusions(qc: dict[int, str], participant_ids: np.ndarray) -> tuple[QcExclusion, ...]:
    if participant_ids.size == 0:
        return ()
    codes = dict(Participant.objects.filter(id__in=participant_ids.tolist()).values_list("id", "code"))
    return tuple(QcExclusion(int(i), codes[int(i)], qc[int(i)][:200]) for i in participant_ids.tolist())


#: The rating's own columns of raw_ratings.csv, in file order (both writers read them; the times
#: are `_raw_ratings`' ISO texts).
RATING_CELLS = (
    "score",
    "kind",
    "trial_index",
    "viewing_ms",
    "response_ms",
    "client_time_text",
    "server_time_text",
    "language",
)

RAW_FIELDS = (
    "session__participant_id",
    "session__participant__code",
    "session__participant__external_id",
    "session__participant__panel",
    "session__participant__is_pilot",
    "session__is_pilot",
    "session__number",
    "stimulus__position",
    "stimulus__name",
    "stimulus__role",
    "perspective__key",
    *RATING_CELLS,
    "session_id",
)


def _raw_ratings(
    study: Study, *, include_pilot: bool, rating_id_max: int | None, pilot_only: bool
) -> QuerySet[Rating]:
    """Every rating raw_ratings.csv lists (all trial kinds), for both of its writers, with its
    times as the file writes them."""
    qs = Rating.objects.filter(session__study=study)
    if rating_id_max is not None:
        qs = qs.filter(id__lte=rating_id_max)
    return _pilot_filter(qs, include_pilot=include_pilot, pilot_only=pilot_only).annotate(
        client_time_text=_iso_utc("client_time"), server_time_text=_iso_utc("server_time")
    )


@contextlib.contextmanager
def _snapshot() -> Iterator[None]:
    """One repeatable-read transaction of its own, or the transaction already open."""
    own = not connection.in_atomic_block
    with transaction.atomic():
        if own:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def raw_ratings_csv_blocks(
    study: Study,
    *,
    include_pilot: bool = False,
    rating_id_max: int | None = None,
    include_panel_ids: bool = False,
    pilot_only: bool = False,
    exclude_qc_failures: bool = True,
    perspectives: Sequence[str] | None = None,
    block_rows: int = 5_000,
) -> Iterator[tuple[int, str]]:
    """``raw_ratings.csv`` without its header, its lines made by PostgreSQL: (rows, text) blocks.

    The same bytes as ``exports.iter_raw_ratings_csv(raw_rating_rows(...))`` (same options),
    which stays the reference and the SQLite path: every value that is not a plain integer or
    a timestamp (raters, sessions' flags and viewing conditions, stimuli, perspectives, scores,
    trial kinds, languages) is formatted once per distinct value by ``exports.raw_cell`` and
    passed in as JSON look-up tables; the database joins them to the ratings and writes the
    lines. Reading 144,000 rows through psycopg and formatting them in Python took about 3 s of
    an analysis job; the lines alone are a fraction of that. PostgreSQL only.

    The look-ups and the lines are read in one snapshot (a repeatable-read transaction of its
    own when not inside one), and a rating whose look-up is missing anyway fails the export
    loudly rather than leaving its line out.
    """
    from analysis.exports import raw_cell

    with _snapshot():
        qs = _raw_ratings(
            study, include_pilot=include_pilot, rating_id_max=rating_id_max, pilot_only=pilot_only
        )
        failed = set(qc_failures_by_participant(study))
        sessions = [
            {
                "id": pk,
                "a": raw_cell(rater_label(code, panel, ext, include_panel_ids=include_panel_ids))
                + ","
                + raw_cell(number),
                "b": raw_cell(pid in failed) + "," + raw_cell(p_pilot or s_pilot),
                "c": ",".join(map(raw_cell, viewing_conditions(device))),
                "q": exclude_qc_failures and pid in failed,
            }
            for pk, number, s_pilot, device, pid, code, ext, panel, p_pilot in RatingSession.objects.filter(
                study=study
            ).values_list(
                "pk",
                "number",
                "is_pilot",
                "device",
                "participant_id",
                "participant__code",
                "participant__external_id",
                "participant__panel",
                "participant__is_pilot",
            )
        ]
        stimuli = [
            {"id": pk, "a": raw_cell(position) + "," + raw_cell(name), "t": role == Stimulus.Role.TEST}
            for pk, position, name, role in Stimulus.objects.filter(study=study).values_list(
                "pk", "position", "name", "role"
            )
        ]
        counted = set(perspectives) if perspectives is not None else None
        keys = [
            {"id": pk, "a": raw_cell(key), "c": counted is None or key in counted}
            for pk, key in Perspective.objects.filter(study=study).values_list("pk", "key")
        ]
        distinct = qs.order_by()
        scores = [{"v": v, "a": raw_cell(v)} for v in distinct.values_list("score", flat=True).distinct()]
        kinds = [{"v": v, "a": raw_cell(v)} for v in distinct.values_list("kind", flat=True).distinct()]
        languages = [
            {"v": v, "a": raw_cell(v)} for v in distinct.values_list("language", flat=True).distinct()
        ]
        inner, params = (
            qs.order_by()
            .values_list("id", "session_id", "stimulus_id", "perspective_id", *RATING_CELLS)
            .query.sql_with_params()
        )
        tables = (
            ("s", sessions, "id bigint, a text, b text, c text, q boolean"),
            ("st", stimuli, "id bigint, a text, t boolean"),
            ("pe", keys, "id bigint, a text, c boolean"),
            ("sc", scores, "v double precision, a text"),
            ("k", kinds, "v text, a text"),
            ("l", languages, "v text, a text"),
        )
        joins = " ".join(
            f"LEFT JOIN jsonb_to_recordset(%s::jsonb) AS {alias}({columns}) ON "
            + {
                "s": "s.id = r.session_id",
                "st": "st.id = r.stimulus_id",
                "pe": "pe.id = r.perspective_id",
                "sc": "sc.v = r.score",
                "k": "k.v = r.kind",
                "l": "l.v = r.language",
            }[alias]
            for alias, _, columns in tables
        )
        test = Trial.Kind.TEST
        line = (
            "s.a || ',' || st.a || ',' || pe.a || ',' || sc.a || ',' || k.a || ','"
            f" || CASE WHEN r.kind = '{test}' AND st.t AND NOT s.q AND pe.c THEN 'true' ELSE 'false' END"
            " || ',' || s.b || ',' || r.trial_index::text"
            " || ',' || COALESCE(r.viewing_ms::text, '') || ',' || COALESCE(r.response_ms::text, '')"
            " || ',' || COALESCE(r.client_time_text, '') || ',' || COALESCE(r.server_time_text, '')"
            " || ',' || l.a || ',' || s.c || E'\\n'"
        )
        sql = (
            f"SELECT string_agg(line, '' ORDER BY id), count(*), count(line) FROM ("  # noqa: S608 - our own SQL
            f"SELECT r.id, ({line}) AS line, (row_number() OVER (ORDER BY r.id) - 1) / %s AS block "
            f"FROM ({inner}) r {joins}) lines GROUP BY block ORDER BY block"
        )
        args = [block_rows, *params, *(json.dumps(rows) for _, rows, _ in tables)]
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            while batch := cursor.fetchmany(20):
                for text, n, lines in batch:
                    if lines != n:  # a NULL look-up made a NULL line, which string_agg would skip
                        raise RuntimeError(f"raw_ratings.csv: {n - lines} rating(s) without a look-up value")
                    yield int(n), text


def _iso_utc(column: str) -> RawSQL:
    """Rating's timestamp ``column`` as the text ``datetime.isoformat()`` gives for it in UTC,
    the time zone Django reads timestamps in (USE_TZ): microseconds only when not zero,
    ``+00:00``; NULL stays NULL (an empty cell).

    Formatted by PostgreSQL because reading 144,000 timestamps through Django's Python loader
    and formatting them again took over a second of an analysis job.
    """
    col = f'"{Rating._meta.db_table}"."{column}"'  # the fields have no db_column
    utc = f"({col} AT TIME ZONE 'UTC')"
    return RawSQL(
        f"""CASE WHEN {col} IS NULL THEN NULL ELSE to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS')"""
        f" || CASE WHEN to_char({utc}, 'US') = '000000' THEN '' ELSE to_char({utc}, '.US') END"
        " || '+00:00' END",
        (),
        output_field=TextField(),
    )


def raw_rating_rows(
    study: Study,
    *,
    include_pilot: bool = False,
    rating_id_max: int | None = None,
    include_panel_ids: bool = False,
    pilot_only: bool = False,
    exclude_qc_failures: bool = True,
    perspectives: Sequence[str] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Every rating of the study (all trial kinds) as rows of ``exports.RAW_COLUMNS``, streamed.

    ``rater`` is the pseudonymous participant code, or ``panel:external_id`` when asked;
    ``session`` the participant's session number; ``stimulus`` the stimulus position;
    ``role`` the trial kind (test, training, gold, repeat, trap); ``qc_excluded`` whether the
    participant failed a quality-control check; ``pilot`` whether the rating comes from a pilot;
    ``in_analysis`` whether the run with these options counted the rating, the same rule as
    :func:`study_ratings_load` (``perspectives``: the keys that run analysed). ``compute_mos``
    analyses the rows with ``in_analysis=true`` by default (docs/exports.md).
    """
    qs = _raw_ratings(study, include_pilot=include_pilot, rating_id_max=rating_id_max, pilot_only=pilot_only)
    failed = set(qc_failures_by_participant(study))
    counted = set(perspectives) if perspectives is not None else None
    test_kind, test_role = Trial.Kind.TEST, Stimulus.Role.TEST
    rows = qs.order_by("id").values_list(*RAW_FIELDS).iterator(chunk_size=CHUNK_SIZE)
    conditions = {
        pk: viewing_conditions(device)
        for pk, device in RatingSession.objects.filter(study=study).values_list("pk", "device")
    }
    for (
        pid,
        code,
        ext,
        panel,
        p_pilot,
        s_pilot,
        number,
        position,
        name,
        role,
        key,
        value,
        kind,
        trial_index,
        viewing,
        response,
        client_time,
        server_time,
        language,
        session_id,
    ) in rows:
        qc_failed = pid in failed
        used = (
            kind == test_kind
            and role == test_role
            and not (exclude_qc_failures and qc_failed)
            and (counted is None or key in counted)
        )
        rater = rater_label(code, panel, ext, include_panel_ids=include_panel_ids)
        yield (
            rater,
            number,
            position,
            name,
            key,
            value,
            kind,
            used,
            qc_failed,
            p_pilot or s_pilot,
            trial_index,
            viewing,
            response,
            client_time,
            server_time,
            language,
            *(conditions.get(session_id) or viewing_conditions({})),
        )
