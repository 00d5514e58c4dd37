"""Which stimuli a session gets, and in which order.

Balanced mode keeps one counter row per test stimulus (`StimulusLoad.load`: live assignments plus
valid answered trials). A session start takes the `count` lowest loads below the study's target
(random among equals: `shuffle` is re-drawn on every pick, so the index on (study, load, shuffle)
breaks ties at random) and increments them, under the study's advisory transaction lock.

Why a study lock and not `FOR UPDATE SKIP LOCKED` on the counters: with SKIP LOCKED, a pick ordered
on a statement snapshot can take a row that another start committed a moment earlier, and loads
drift two apart under load (seen in the 12-thread test). Under the lock each pick sees every earlier
pick committed, so loads never differ by more than one. The pick is committed in a transaction of
its own (ratings.services.stimulus_loads_claim): the lock is held for the choice only, never while a
session's trials are inserted.

Lock order, the same everywhere (no deadlock): the study lock, then session rows, then counter
rows in stimulus id order. Session starts and recounts take the study lock and then counters;
submissions, resumes and expiry lock their session rows and then counters; every statement that
locks several counters locks them ordered by stimulus id (`balanced_claim`, `loads_change`,
`stimulus_loads_recount`).

`stimulus_loads_recount` rebuilds the counters from the trials (after an analysis excluded
participants: their stimuli become needed again), under the same lock.

Precision mode (`precision_pick`, policy in ratings.precision) also keeps running sums of the valid
raw scores (`StimulusSums`, one row per stimulus and perspective). They come after the counters in
the lock order, rows in (stimulus, perspective) order: a submission adds its answers to one
stimulus' rows (after any counters it changes), a screen-out or withdrawal takes the session's
answers out after its counter changes, and the recount rebuilds them after locking every counter.
"""

import contextlib
import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest

from experiments.models import Perspective, Stimulus, Study
from ratings import precision

# Namespace of the advisory locks taken on behalf of a study (the second key is the study id).
LOCK_NAMESPACE = 7301
# A session start holds this one shared from its claim until its trials are committed (two
# transactions); the recount takes it exclusively, so it never counts between the two.
CLAIM_NAMESPACE = 7302
ENSURE_EVERY_SECONDS = 60


def on_postgres() -> bool:
    """The SQL here is PostgreSQL's; the SQLite fallback of `scripts/run` gets plain ORM versions."""
    return connection.vendor == "postgresql"


def _portable_loads_ensure(study_id: int) -> None:
    from ratings.models import StimulusLoad

    test_ids = Stimulus.objects.filter(study_id=study_id, role=Stimulus.Role.TEST).values_list(
        "pk", flat=True
    )
    StimulusLoad.objects.bulk_create(
        [StimulusLoad(stimulus_id=pk, study_id=study_id, load=0) for pk in test_ids], ignore_conflicts=True
    )
    StimulusLoad.objects.filter(study_id=study_id).exclude(stimulus__role=Stimulus.Role.TEST).delete()


def _portable_pick(*, study: Study, count: int, exclude: Sequence[int]) -> dict[int, str]:
    from ratings.models import StimulusLoad

    rows = list(
        StimulusLoad.objects.filter(study=study, load__lt=study.target_ratings)
        .exclude(stimulus_id__in=list(exclude))
        .order_by("load", "shuffle")
        .values_list("stimulus_id", "stimulus__prompt")[:count]
    )
    for stimulus_id, _prompt in rows:
        StimulusLoad.objects.filter(stimulus_id=stimulus_id).update(
            load=F("load") + 1, shuffle=random.random()
        )
    return dict(rows)


def _portable_recount(*, study_id: int) -> None:
    from ratings.models import RatingSession, StimulusLoad, Trial

    counts: dict[int, int] = {}
    trials = Trial.objects.filter(
        session__study_id=study_id,
        kind=Trial.Kind.TEST,
        session__is_pilot=False,
        session__participant__excluded_reason="",
    ).exclude(session__status=RatingSession.Status.SCREENED_OUT)
    live = list(RatingSession.LIVE_STATUSES)
    for stimulus_id, answered_at, status in trials.values_list(
        "stimulus_id", "answered_at", "session__status"
    ):
        if answered_at is not None or status in live:
            counts[stimulus_id] = counts.get(stimulus_id, 0) + 1
    for load in StimulusLoad.objects.filter(study_id=study_id):
        StimulusLoad.objects.filter(pk=load.pk).update(load=counts.get(load.stimulus_id, 0))


@dataclass
class Item:
    """One presentation before it becomes a Trial row."""

    stimulus_id: int
    prompt: str  # the stimulus' own prompt
    prompt_shown: str
    kind: str
    repetition: int = 0
    reference: dict | None = None

    @property
    def prompts(self) -> set[str]:
        return {self.prompt, self.prompt_shown}


@contextlib.contextmanager
def claim_window(study_id: int) -> Iterator[None]:
    """Hold the study's claim window (shared) around a claim and the insert of its trials.

    The claim commits its counters before the session's trials exist; a recount in between would
    count the trials and lose the claim (counters one too low, seen in the lock-order test with a
    concurrent recount). Starts share the window, so they never wait for each other here; the
    recount takes it exclusively (`stimulus_loads_recount`). A session-level lock, released below;
    if that fails the connection is closed, which releases it too.
    """
    if not on_postgres():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock_shared(%s, %s)", [CLAIM_NAMESPACE, study_id])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock_shared(%s, %s)", [CLAIM_NAMESPACE, study_id])
        except DatabaseError:
            connection.close()


_STUDY_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s, %s)"


def study_lock(study_id: int) -> None:
    """Serialise allocations (and recounts) of one study until the transaction ends."""
    if not on_postgres():
        return  # SQLite (the no-PostgreSQL fallback) lets one writer in at a time anyway
    with connection.cursor() as cursor:
        cursor.execute(_STUDY_LOCK_SQL, [LOCK_NAMESPACE, study_id])


def stimulus_loads_ensure(study_id: int, *, force: bool = False) -> None:
    """Give every test stimulus of the study a counter row, and only those (at most once a minute per process).

    No ANALYZE here (this runs on the participant's request path): `balanced_claim` reads the
    counters in an order that does not depend on the table's statistics.
    """
    key = f"ratings:loads-ensured:{study_id}"
    if not force and cache.get(key):
        return
    if not on_postgres():
        _portable_loads_ensure(study_id)
        cache.set(key, True, ENSURE_EVERY_SECONDS)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO ratings_stimulusload (stimulus_id, study_id, load, shuffle)
            SELECT id, study_id, 0, random() FROM experiments_stimulus
            WHERE study_id = %s AND role = %s
            ON CONFLICT (stimulus_id) DO NOTHING
            """,
            [study_id, Stimulus.Role.TEST],
        )
        cursor.execute(
            """
            DELETE FROM ratings_stimulusload l USING experiments_stimulus s
            WHERE l.study_id = %s AND s.id = l.stimulus_id AND s.role <> %s
            """,
            [study_id, Stimulus.Role.TEST],
        )
    cache.set(key, True, ENSURE_EVERY_SECONDS)


_BALANCED_PICK_SQL = """
            WITH chosen AS (
                SELECT stimulus_id FROM ratings_stimulusload
                WHERE study_id = %s AND load < %s AND NOT (stimulus_id = ANY(%s::bigint[]))
                ORDER BY load, shuffle
                LIMIT %s
            ), locked AS (
                SELECT l.stimulus_id FROM ratings_stimulusload l
                WHERE l.stimulus_id IN (SELECT stimulus_id FROM chosen)
                ORDER BY l.stimulus_id
                FOR UPDATE
            )
            UPDATE ratings_stimulusload u SET load = u.load + 1, shuffle = random()
            FROM locked
            WHERE u.stimulus_id = locked.stimulus_id AND u.load < %s
            RETURNING u.stimulus_id, (SELECT prompt FROM experiments_stimulus WHERE id = u.stimulus_id)
            """


def balanced_claim(*, study: Study, count: int, exclude: Sequence[int]) -> dict[int, str]:
    """Claim up to `count` test stimuli with the lowest loads below target, never one in `exclude`,
    under the study lock, in a transaction of its own (inside a caller's transaction: part of it,
    and the lock lasts until it ends). Fewer come back when too few are still needed (no
    over-allocation). Returns {stimulus id: prompt}.

    The choice reads without locking (the study lock serialises picks); the chosen counters are
    then locked in stimulus id order, the order of every other writer of counters, and a counter
    that reached the target meanwhile (a resumed session took it back) is not taken.

    The lock and the pick are two statements sent in one query string (one round trip instead of
    four: BEGIN, lock, pick, COMMIT). PostgreSQL runs them as one transaction, the lock first, and
    (read committed) takes the pick's snapshot only once the lock is held, so the pick sees every
    earlier pick's committed counters, as with separate statements.
    """
    if not on_postgres():
        with transaction.atomic():
            return _portable_pick(study=study, count=count, exclude=exclude)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{_STUDY_LOCK_SQL}; {_BALANCED_PICK_SQL}",  # noqa: S608 - constants
            [
                LOCK_NAMESPACE,
                study.pk,
                study.pk,
                study.target_ratings,
                list(exclude),
                count,
                study.target_ratings,
            ],
        )
        cursor.nextset()
        return dict(cursor.fetchall())


def precision_target(study: Study) -> tuple[list[int], precision.Target]:
    """The study's perspective ids (in order) and its precision target. Read before the study lock."""
    rows = list(
        Perspective.objects.filter(study=study).order_by("order").values_list("pk", "target_half_width")
    )
    target = precision.Target(
        half_width=tuple(float(h or 0.0) for _pk, h in rows),
        minimum=study.precision_min_ratings,
        maximum=study.precision_max_ratings,
    )
    return [pk for pk, _h in rows], target


def precision_state(
    *, study_id: int, perspective_ids: Sequence[int]
) -> tuple[list[int], np.ndarray, precision.Sums]:
    """Every test stimulus' id and load with its sums of valid scores, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.stimulus_id, l.load, s.perspective_id, s.n, s.s1, s.s2
            FROM ratings_stimulusload l
            LEFT JOIN ratings_stimulussums s ON s.stimulus_id = l.stimulus_id
            WHERE l.study_id = %s
            ORDER BY l.stimulus_id
            """,
            [study_id],
        )
        rows = cursor.fetchall()
    column = {pk: j for j, pk in enumerate(perspective_ids)}
    ids: list[int] = []
    row_of: dict[int, int] = {}
    loads: list[int] = []
    for stimulus_id, load, *_rest in rows:
        if stimulus_id not in row_of:
            row_of[stimulus_id] = len(ids)
            ids.append(stimulus_id)
            loads.append(load)
    shape = (len(ids), len(perspective_ids))
    n, s1, s2 = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for stimulus_id, _load, pid, count, total, squares in rows:
        if pid in column:
            i, j = row_of[stimulus_id], column[pid]
            n[i, j], s1[i, j], s2[i, j] = count, total, squares
    return ids, np.asarray(loads, dtype=np.float64), precision.Sums(n, s1, s2)


def precision_pick(
    *,
    study: Study,
    count: int,
    exclude: Sequence[int],
    perspective_ids: Sequence[int],
    target: precision.Target,
    rng: np.random.Generator,
) -> dict[int, str]:
    """Claim up to `count` test stimuli that still need ratings most (`precision.order`), never one
    in `exclude`. Call inside the allocation transaction, after `study_lock`.

    Fewer come back when fewer are needed, none when the study is complete. The chosen counters
    are locked in stimulus id order and one that reached the maximum meanwhile is not taken.
    """
    ids, loads, sums = precision_state(study_id=study.pk, perspective_ids=perspective_ids)
    if not ids:
        return {}
    skip = set(exclude)
    chosen = [ids[i] for i in precision.order(sums, loads, target, rng) if ids[i] not in skip][:count]
    if not chosen:
        return {}
    if not on_postgres():
        from ratings.models import StimulusLoad

        for stimulus_id in sorted(chosen):
            StimulusLoad.objects.filter(stimulus_id=stimulus_id, load__lt=target.maximum).update(
                load=F("load") + 1
            )
        return dict(Stimulus.objects.filter(pk__in=chosen).values_list("pk", "prompt"))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH locked AS (
                SELECT l.stimulus_id FROM ratings_stimulusload l
                WHERE l.stimulus_id = ANY(%s::bigint[])
                ORDER BY l.stimulus_id
                FOR UPDATE
            )
            UPDATE ratings_stimulusload u SET load = u.load + 1
            FROM locked
            WHERE u.stimulus_id = locked.stimulus_id AND u.load < %s
            RETURNING u.stimulus_id, (SELECT prompt FROM experiments_stimulus WHERE id = u.stimulus_id)
            """,
            [chosen, target.maximum],
        )
        return dict(cursor.fetchall())


def sums_add(*, study_id: int, stimulus_id: int, participant_id: int, scores: Mapping[int, float]) -> None:
    """Add one test trial's valid answers ({perspective id: score}) to the stimulus' running sums,
    unless the participant is excluded: one statement (precision studies' submission path)."""
    pids = sorted(scores)
    if not on_postgres():
        from ratings.models import Participant, StimulusSums

        if Participant.objects.filter(pk=participant_id).exclude(excluded_reason="").exists():
            return
        for pid in pids:
            row, _ = StimulusSums.objects.get_or_create(
                stimulus_id=stimulus_id, perspective_id=pid, defaults={"study_id": study_id}
            )
            StimulusSums.objects.filter(pk=row.pk).update(
                n=F("n") + 1, s1=F("s1") + scores[pid], s2=F("s2") + scores[pid] ** 2
            )
        return
    values = ", ".join(["(%s::bigint, %s::double precision)"] * len(pids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO ratings_stimulussums (stimulus_id, perspective_id, study_id, n, s1, s2)
            SELECT %s, v.pid, %s, 1, v.x, v.x * v.x FROM (VALUES {values}) AS v(pid, x)
            WHERE NOT EXISTS (
                SELECT 1 FROM ratings_participant p WHERE p.id = %s AND p.excluded_reason <> ''
            )
            ORDER BY v.pid
            ON CONFLICT (stimulus_id, perspective_id) DO UPDATE SET
                n = ratings_stimulussums.n + 1,
                s1 = ratings_stimulussums.s1 + EXCLUDED.s1,
                s2 = ratings_stimulussums.s2 + EXCLUDED.s2
            """,  # noqa: S608 - placeholders only
            [stimulus_id, study_id, *[v for pid in pids for v in (pid, scores[pid])], participant_id],
        )


def sums_remove_session(*, session_id: int, participant_id: int) -> None:
    """Take a session's test answers out of the sums (it was screened out or withdrawn); nothing
    when the participant is excluded (the recount took them out already, or will)."""
    from ratings.models import Participant, Rating, StimulusSums, Trial

    if Participant.objects.filter(pk=participant_id).exclude(excluded_reason="").exists():
        return
    answers = Rating.objects.filter(session_id=session_id, kind=Trial.Kind.TEST).values_list(
        "stimulus_id", "perspective_id", "score"
    )
    if not on_postgres():
        for stimulus_id, pid, x in sorted(answers):
            StimulusSums.objects.filter(stimulus_id=stimulus_id, perspective_id=pid).update(
                n=F("n") - 1, s1=F("s1") - x, s2=F("s2") - x * x
            )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH answers AS (
                SELECT stimulus_id, perspective_id, count(*) AS n, sum(score) AS s1,
                       sum(score * score) AS s2
                FROM ratings_rating WHERE session_id = %s AND kind = %s
                GROUP BY stimulus_id, perspective_id
            ), locked AS (
                SELECT z.id FROM ratings_stimulussums z JOIN answers a
                  ON a.stimulus_id = z.stimulus_id AND a.perspective_id = z.perspective_id
                ORDER BY z.stimulus_id, z.perspective_id
                FOR UPDATE OF z
            )
            UPDATE ratings_stimulussums u
            SET n = GREATEST(u.n - a.n, 0), s1 = u.s1 - a.s1, s2 = GREATEST(u.s2 - a.s2, 0)
            FROM answers a, locked
            WHERE u.id = locked.id AND a.stimulus_id = u.stimulus_id AND a.perspective_id = u.perspective_id
            """,
            [session_id, Trial.Kind.TEST],
        )


def sums_recount(*, study_id: int) -> None:
    """Rebuild a study's sums from its valid test answers; after the counters are locked."""
    from ratings.models import RatingSession, StimulusSums, Trial

    screened = RatingSession.Status.SCREENED_OUT
    if not on_postgres():
        StimulusSums.objects.filter(study_id=study_id).update(n=0, s1=0.0, s2=0.0)
        from ratings.models import Rating

        valid = Rating.objects.filter(
            session__study_id=study_id,
            kind=Trial.Kind.TEST,
            session__is_pilot=False,
            session__participant__excluded_reason="",
        ).exclude(session__status=screened)
        for stimulus_id, pid, x in valid.values_list("stimulus_id", "perspective_id", "score"):
            row, _ = StimulusSums.objects.get_or_create(
                stimulus_id=stimulus_id, perspective_id=pid, defaults={"study_id": study_id}
            )
            StimulusSums.objects.filter(pk=row.pk).update(n=F("n") + 1, s1=F("s1") + x, s2=F("s2") + x * x)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM ratings_stimulussums WHERE study_id = %s ORDER BY stimulus_id, perspective_id "
            "FOR UPDATE",
            [study_id],
        )
        # Every row is locked now: the scan order of the reset no longer matters.
        cursor.execute(
            "UPDATE ratings_stimulussums SET n = 0, s1 = 0, s2 = 0 WHERE study_id = %s", [study_id]
        )
        cursor.execute(
            """
            INSERT INTO ratings_stimulussums (stimulus_id, perspective_id, study_id, n, s1, s2)
            SELECT r.stimulus_id, r.perspective_id, %s, count(*), sum(r.score), sum(r.score * r.score)
            FROM ratings_rating r
            JOIN ratings_ratingsession s ON s.id = r.session_id
            JOIN ratings_participant p ON p.id = s.participant_id
            WHERE s.study_id = %s AND r.kind = %s AND NOT s.is_pilot
              AND p.excluded_reason = '' AND s.status <> %s
            GROUP BY r.stimulus_id, r.perspective_id
            ORDER BY r.stimulus_id, r.perspective_id
            ON CONFLICT (stimulus_id, perspective_id) DO UPDATE SET
                n = EXCLUDED.n, s1 = EXCLUDED.s1, s2 = EXCLUDED.s2
            """,
            [study_id, study_id, Trial.Kind.TEST, screened],
        )


def full_pick(*, study: Study, count: int, exclude: Sequence[int], rng: random.Random) -> dict[int, str]:
    """The next `count` test stimuli this participant has not seen, in random order (full mode)."""
    rows = list(
        Stimulus.objects.filter(study=study, role=Stimulus.Role.TEST)
        .exclude(pk__in=list(exclude))
        .values_list("pk", "prompt")
    )
    rng.shuffle(rows)
    chosen = dict(rows[:count])
    loads_change(list(chosen), +1)
    return chosen


def loads_change(stimulus_ids: Sequence[int], delta: int) -> None:
    """Add `delta` to the counters of these (distinct) stimuli."""
    loads_add({pk: delta for pk in stimulus_ids})


def loads_add(deltas: Mapping[int, int]) -> None:
    """Add deltas[stimulus id] to each counter in one statement, locking them in id order.

    One statement, not one per distinct delta: two statements would each lock in id order but
    together not (ids 5, 9 then 3), and deadlock against another writer taking 3 then 5.
    """
    deltas = {pk: d for pk, d in deltas.items() if d}
    if not deltas:
        return
    if not on_postgres():
        from ratings.models import StimulusLoad

        for stimulus_id in sorted(deltas):
            StimulusLoad.objects.filter(stimulus_id=stimulus_id).update(
                load=Greatest(F("load") + deltas[stimulus_id], 0)
            )
        return
    ids = sorted(deltas)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE ratings_stimulusload u SET load = GREATEST(u.load + d.delta, 0)
            FROM (SELECT stimulus_id FROM ratings_stimulusload WHERE stimulus_id = ANY(%s::bigint[])
                  ORDER BY stimulus_id FOR UPDATE) locked,
                 unnest(%s::bigint[], %s::int[]) AS d(stimulus_id, delta)
            WHERE u.stimulus_id = locked.stimulus_id AND d.stimulus_id = locked.stimulus_id
            """,
            [ids, ids, [deltas[pk] for pk in ids]],
        )


def stimulus_loads_recount(*, study_id: int) -> None:
    """Rebuild the study's counters from its trials (and a precision study's sums from its
    ratings). Call in a transaction.

    Counts answered test trials of participants who are not excluded, in sessions that were not
    screened out, plus unanswered test trials of live sessions. Pilot sessions never count.
    """
    from ratings.models import RatingSession, Trial

    if on_postgres():  # wait for the starts between their claim and their trials (claim_window)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CLAIM_NAMESPACE, study_id])
    study_lock(study_id)
    stimulus_loads_ensure(study_id, force=True)
    precise = Study.objects.filter(pk=study_id, allocation_mode=Study.AllocationMode.PRECISION).exists()
    if not on_postgres():
        _portable_recount(study_id=study_id)
        if precise:
            sums_recount(study_id=study_id)
        return
    live = list(RatingSession.LIVE_STATUSES)
    with connection.cursor() as cursor:
        # Every counter of the study, locked in stimulus id order before the UPDATE (whose own row
        # order follows the scan): the lock order of every other writer.
        cursor.execute(
            "SELECT 1 FROM ratings_stimulusload WHERE study_id = %s ORDER BY stimulus_id FOR UPDATE",
            [study_id],
        )
        cursor.execute(
            """
            WITH counts AS (
                SELECT t.stimulus_id, count(*) AS n FROM ratings_trial t
                JOIN ratings_ratingsession s ON s.id = t.session_id
                JOIN ratings_participant p ON p.id = s.participant_id
                WHERE s.study_id = %s AND t.kind = %s AND NOT s.is_pilot
                  AND p.excluded_reason = '' AND s.status <> %s
                  AND (t.answered_at IS NOT NULL OR s.status = ANY(%s))
                GROUP BY t.stimulus_id
            )
            UPDATE ratings_stimulusload l
            SET load = COALESCE((SELECT n FROM counts WHERE counts.stimulus_id = l.stimulus_id), 0)
            WHERE l.study_id = %s
            """,
            [study_id, Trial.Kind.TEST, RatingSession.Status.SCREENED_OUT, live, study_id],
        )
    if precise:
        sums_recount(study_id=study_id)


def arrange(items: list[Item], rng: random.Random, attempts: int = 50) -> list[Item]:
    """A random order in which no two neighbours share a prompt (shown or own), when one exists.

    Randomised greedy: at each step take a random item that does not clash with the previous one,
    preferring the most frequent prompt when it would otherwise run out of room. Falls back to the
    best attempt (fewest clashes) for impossible inputs, e.g. a single prompt.

    Linear in the items per attempt as long as clashes are rare (it runs on every session start):
    a free item is found by drawing at random until one does not clash (uniform over the free
    ones), with a scan only after a few misses; removal swaps with the last; the most frequent
    prompt is looked up again only when it lost an item.
    """
    keys = [frozenset(item.prompts) for item in items]
    best: list[Item] = []
    best_clashes = len(items) + 1
    for _ in range(attempts):
        pool = list(range(len(items)))
        rng.shuffle(pool)
        counts = Counter(items[i].prompt for i in pool)
        top_prompt, top = counts.most_common(1)[0] if counts else ("", 0)
        order: list[Item] = []
        clashes = 0
        last: frozenset[str] = frozenset()
        while pool:
            n = len(pool)
            free = [k for k in range(n) if not keys[pool[k]] & last] if top * 2 > n else []
            urgent = [k for k in free if items[pool[k]].prompt == top_prompt]
            if urgent:
                k = rng.choice(urgent)
            else:
                k = _free_draw(pool, keys, last, rng)
                if k < 0:
                    free = free or [j for j in range(n) if not keys[pool[j]] & last]
                    k = rng.choice(free) if free else 0
                    clashes += not free
            chosen = pool[k]
            pool[k] = pool[-1]
            pool.pop()
            item = items[chosen]
            order.append(item)
            last = keys[chosen]
            counts[item.prompt] -= 1
            if item.prompt == top_prompt:
                top_prompt, top = counts.most_common(1)[0]
        if clashes < best_clashes:
            best, best_clashes = order, clashes
        if clashes == 0:
            break
    return best


def _free_draw(pool: list[int], keys: list[frozenset[str]], last: frozenset[str], rng: random.Random) -> int:
    """A position in `pool` drawn uniformly among the items not clashing with `last`; -1 after 8 misses."""
    for _ in range(8):
        k = rng.randrange(len(pool))
        if not keys[pool[k]] & last:
            return k
    return -1


def insert_repeats(order: list[Item], repeats: list[Item], rng: random.Random, gap: int = 3) -> list[Item]:
    """Place each repeat after its original, at least `gap` trials later when possible, without clashes."""
    result = order[:]
    for repeat in repeats:
        first = next(
            i
            for i, item in enumerate(result)
            if item.stimulus_id == repeat.stimulus_id and item.repetition == 0
        )

        def fits(pos: int, repeat: Item = repeat) -> bool:
            before = result[pos - 1].prompts if pos > 0 else set()
            after = result[pos].prompts if pos < len(result) else set()
            return not (repeat.prompts & (before | after))

        positions = [p for p in range(first + 1 + gap, len(result) + 1) if fits(p)]
        positions = positions or [p for p in range(first + 1, len(result) + 1) if fits(p)]
        result.insert(rng.choice(positions) if positions else len(result), repeat)
    return result
