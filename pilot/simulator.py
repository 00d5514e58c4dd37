"""Simulated participants that walk the real participant flow over HTTP, as a browser does.

Standard library only (http.client, html.parser, threads), so that it is cheap to run next to the
server it loads and importable by anything: the pilot mode (`pilot.services`), the load benchmark
(`bench/load`) and the fault-injection scripts (`bench/chaos`). It never touches the database.

API
---
``population_plan(n, population)`` -> ``list[Rater]``
    The seeded, reproducible rater models: each rater is honest, a spammer (uniform random
    answers) or a straight-liner (one value throughout), with a bias and an inconsistency
    (noise SD, in scale points), and may abandon the session after a fraction of its trials.
``planted_truth(seed, stimulus_id, perspective, scale)`` -> ``float``
    The true score of a stimulus from a perspective (deterministic in the seed).
``planted_difficulty(seed, stimulus_id, spread)`` -> ``float``
    How much an image multiplies the honest raters' inconsistency: 1 for every image when
    ``spread`` is 0, else log-normal with that log-SD (clean images near-unanimous, polarising
    ones split), as real images differ.
``rater_scores(rater, trial, keys, scale, seed, difficulty=0)`` -> ``{perspective key: score}``
    What a rater answers on one trial (deterministic in seed, rater, stimulus, repetition: the
    same seed gives the same answers whatever order the server allocates).
``ParticipantClient(base_url, slug, query)``
    One virtual participant on its own keep-alive connection with its own cookies: ``enter()``
    (GET the study link, POST the consent form with the CSRF cookie and token), ``through_stages()``
    (questionnaire, display check, instructions; returns the trials page's session data),
    ``submit(trial, scores)`` (POST to the JSON rating endpoint with a fresh idempotency key,
    retried with the same key and exponential backoff on connection errors and 5xx) and
    ``page()`` (GET the session page: its stage and completion code).
``run_participant(client, rater, seed=..., think=...)`` -> ``ParticipantResult``
    One whole session: entry, stages, every trial in order (or until the rater abandons), end.
``simulate(base_url, slug, n, population=..., concurrency=..., query=...)`` -> ``SimulationResult``
    N participants on a thread pool; ``query(rater)`` gives each one's study-link parameters
    (default ``{"pid": ...}``, the generic panel).

Every request's latency is recorded per kind (``entry``, ``consent``, ``stage``, ``rating``...),
so load scripts can read p50/p99 from ``SimulationResult.latencies``.
"""

from __future__ import annotations

import functools
import http.client
import json
import math
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

HONEST, SPAMMER, STRAIGHTLINER = "honest", "spammer", "straightliner"
CORRESPONDENCE_KEY = "correspondence"  # ratings.qc.CORRESPONDENCE_KEY (not imported: no Django here)
USER_AGENT = "aigc-iqa-simulator/1.0 (simulated participant)"
DEVICE = {
    "screen": {"width": 2560, "height": 1440},
    "dpr": 1,
    "viewport": {"width": 2400, "height": 1300},
    "user_agent": USER_AGENT,
    "color_depth": 24,
    "touch": 0,
    "language": "en",
    "fits": True,
}


class SimulatorError(Exception):
    """The server answered in a way a browser could not continue from."""


# --- Rater models -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Population:
    """Who the simulated raters are. Shares are fractions of n; SDs are in scale points."""

    seed: int = 0
    spammers: float = 0.1
    straightliners: float = 0.05
    abandoners: float = 0.05
    bias_sd: float = 0.3
    noise_min: float = 0.3
    noise_max: float = 0.7
    difficulty: float = 0.0  # log-SD of the images' inconsistency multiplier (planted_difficulty)


@dataclass(frozen=True)
class Rater:
    index: int
    kind: str
    bias: float  # in scale points, added to the truth (honest raters)
    noise: float  # SD of the per-answer error, in scale points
    abandon_after: float | None  # fraction of the trials answered before leaving, or None
    line_value: float  # a straight-liner's one answer, as a fraction of the scale (0..1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.kind,
            "bias": round(self.bias, 4),
            "noise": round(self.noise, 4),
            "abandon_after": self.abandon_after,
        }


def population_plan(n: int, population: Population) -> list[Rater]:
    """n raters with exact shares of each kind (rounded), shuffled by the seed."""
    rng = random.Random(f"{population.seed}|plan")
    n_spam = round(n * population.spammers)
    n_line = round(n * population.straightliners)
    kinds = [SPAMMER] * n_spam + [STRAIGHTLINER] * n_line
    kinds += [HONEST] * (n - len(kinds))
    rng.shuffle(kinds)
    abandon = set(rng.sample(range(n), round(n * population.abandoners)))
    return [
        Rater(
            index=i,
            kind=kind,
            bias=rng.gauss(0, population.bias_sd),
            noise=rng.uniform(population.noise_min, population.noise_max),
            abandon_after=round(rng.uniform(0.2, 0.8), 3) if i in abandon else None,
            line_value=rng.random(),
        )
        for i, kind in enumerate(kinds)
    ]


@dataclass(frozen=True)
class Scale:
    kind: str  # "integer" or "continuous"
    min: float
    max: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Scale:
        s = config["scale"]
        return cls(kind=s["kind"], min=float(s["min"]), max=float(s["max"]))

    def clip(self, value: float) -> float:
        value = min(max(value, self.min), self.max)
        return float(round(value)) if self.kind == "integer" else round(value, 2)


@functools.lru_cache(maxsize=65536)  # the pilot's allocation comparison asks for each many times
def planted_truth(seed: int, stimulus_id: int, perspective: str, scale: Scale) -> float:
    """The true score of a stimulus from one perspective, in scale units, inside the scale.

    A stimulus has one quality level shared by its perspectives plus a perspective-specific
    deviation, as real images are often good or bad on all counts at once.
    """
    span = scale.max - scale.min
    base = random.Random(f"{seed}|truth|{stimulus_id}").uniform(0.1, 0.9)
    own = random.Random(f"{seed}|truth|{stimulus_id}|{perspective}").gauss(0, 0.12)
    return scale.min + span * min(max(base + own, 0.05), 0.95)


@functools.lru_cache(maxsize=65536)
def planted_difficulty(seed: int, stimulus_id: int, spread: float) -> float:
    """The factor by which an image scales honest raters' noise: exp(N(0, spread)), 1 at spread 0."""
    if spread <= 0:
        return 1.0
    return math.exp(random.Random(f"{seed}|difficulty|{stimulus_id}").gauss(0, spread))


def rater_scores(
    rater: Rater,
    trial: Mapping[str, Any],
    keys: list[str],
    scale: Scale,
    seed: int,
    difficulty: float = 0.0,
) -> dict[str, float]:
    """The rater's answers to one trial, deterministic in (seed, rater, stimulus, repetition).

    `difficulty` is the population's spread of image difficulty (`planted_difficulty`)."""
    # Keyed on the stimulus and the trial kind, never the position: the server allocates in a
    # random order, and the same seed must give the same answers to the same stimulus.
    rng = random.Random(f"{seed}|{rater.index}|{trial['stimulus']}|{trial.get('kind', '')}")
    out: dict[str, float] = {}
    for key in keys:
        if rater.kind == SPAMMER:
            value = rng.uniform(scale.min - 0.49, scale.max + 0.49)
        elif rater.kind == STRAIGHTLINER:
            value = scale.min + rater.line_value * (scale.max - scale.min)
        elif trial.get("kind") == "trap" and key == CORRESPONDENCE_KEY:
            value = scale.min + rng.uniform(0, 0.2) * (scale.max - scale.min)  # the prompt does not match
        elif trial.get("reference") and key in trial["reference"]:
            ref = trial["reference"][key]
            value = (sum(ref) / len(ref) if isinstance(ref, list) else float(ref)) + rng.gauss(0, rater.noise)
        else:
            noise = rater.noise * planted_difficulty(seed, trial["stimulus"], difficulty)
            value = planted_truth(seed, trial["stimulus"], key, scale) + rater.bias + rng.gauss(0, noise)
        out[key] = scale.clip(value)
    return out


# --- HTML reading -----------------------------------------------------------------------------
class _PageParser(HTMLParser):
    """Forms (action, hidden and named inputs, submit buttons) and JSON script blocks by id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self.scripts: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self._script_id: str | None = None
        self._text_id: str | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": a.get("action", ""),
                    "id": a.get("id", ""),
                    "fields": {},
                    "radios": {},
                    "buttons": [],
                }
            )
        elif tag == "input" and self.forms:
            fields, name = self.forms[-1], a.get("name")
            if name and a.get("type") == "radio":
                fields["radios"].setdefault(name, []).append(a.get("value", ""))
            elif name:
                fields["fields"][name] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))
        elif tag == "script" and a.get("type") == "application/json":
            self._script_id, self._buf = a.get("id", ""), []
        elif a.get("id") in ("completion-code", "screenout-code", "message"):
            self._text_id, self._buf = a["id"], []

    def handle_data(self, data: str) -> None:
        if self._script_id is not None or self._text_id is not None:
            self._buf.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script_id is not None:
            self.scripts[self._script_id] = "".join(self._buf)
            self._script_id = None
        elif self._text_id is not None and tag in ("p", "span", "div"):
            self.ids[self._text_id] = "".join(self._buf).strip()
            self._text_id = None


@dataclass
class Page:
    status: int
    url: str
    forms: list[dict[str, Any]]
    scripts: dict[str, str]
    texts: dict[str, str]

    def form(self, action_suffix: str) -> dict[str, Any] | None:
        return next((f for f in self.forms if f["action"].rstrip("/").endswith(action_suffix)), None)

    def json(self, script_id: str) -> Any:
        return json.loads(self.scripts[script_id]) if script_id in self.scripts else None

    @property
    def stage(self) -> str:
        if "session-data" in self.scripts:
            return "trials"
        for suffix in ("questionnaire", "display", "instructions", "consent"):
            if self.form(suffix):
                return suffix
        if "completion-code" in self.texts:
            return "completed"
        return "ended"


# --- HTTP -------------------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {}


@dataclass
class Stats:
    """Latencies (seconds) per request kind, retries and errors; merged across participants."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def merge(self, other: Stats) -> None:
        for kind, values in other.latencies.items():
            self.latencies.setdefault(kind, []).extend(values)
        self.retries += other.retries
        self.errors.extend(other.errors)


TRANSIENT = (ConnectionError, TimeoutError, socket.timeout, http.client.HTTPException, OSError)


class ParticipantClient:
    """One virtual participant: its own keep-alive connection and cookie jar, like one browser tab."""

    def __init__(
        self,
        base_url: str,
        slug: str,
        query: Mapping[str, str] | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        stats: Stats | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.scheme, self.host, self.port = parts.scheme, parts.hostname or "127.0.0.1", parts.port
        self.prefix = parts.path.rstrip("/")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.slug = slug
        self.query = dict(query or {})
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stats = stats or Stats()
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None
        self.session_url = ""
        self.session_data: dict[str, Any] = {}
        self.config: dict[str, Any] = {}

    # -- transport
    def _connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self.conn = cls(self.host, self.port, timeout=self.timeout)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept-Language": "en"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers.update(extra or {})
        return headers

    def _path(self, url: str) -> str:
        if url.startswith("http"):
            parts = urlsplit(url)
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return url if url.startswith(self.prefix + "/") or not self.prefix else self.prefix + url

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        kind: str = "other",
    ) -> Response:
        """One request, retried with exponential backoff on connection errors and 5xx answers.

        Safe to retry: GETs, stage POSTs (the server ignores a repeated stage) and rating POSTs
        (same idempotency key -> "already stored").
        """
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            started = time.perf_counter()
            try:
                conn = self._connect()
                conn.request(method, self._path(url), body=body, headers=self._headers(headers))
                raw = conn.getresponse()
                data = raw.read()
                response = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data)
                self._store_cookies(raw.msg.get_all("Set-Cookie") or [])
                if raw.getheader("Connection", "").lower() == "close":
                    self.close()
            except TRANSIENT as exc:
                self.close()
                failure = f"{type(exc).__name__}: {exc}"
            else:
                self.stats.add(kind, time.perf_counter() - started)
                if response.status < 500:
                    return response
                failure = f"HTTP {response.status}"
            if attempt == self.max_retries:
                raise SimulatorError(f"{method} {url}: {failure} (after {attempt} retries)")
            self.stats.retries += 1
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    def _store_cookies(self, headers: list[str]) -> None:
        for header in headers:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value

    def get_page(self, url: str, *, kind: str = "page") -> Page:
        """GET a page and follow redirects, as a browser does."""
        for _hop in range(10):
            response = self.request("GET", url, kind=kind)
            if response.status in (301, 302, 303, 307, 308):
                url = urljoin(url, response.headers["location"])
                continue
            return self._page(response, url)
        raise SimulatorError(f"too many redirects from {url}")

    def post_form(self, url: str, fields: Mapping[str, str], *, kind: str) -> Page:
        """POST a form (CSRF token from the form, cookie from the jar); follow the redirect."""
        body = urlencode(fields).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": self.origin,
            "Referer": self.origin + self._path(url),
        }
        response = self.request("POST", url, body, headers, kind=kind)
        if response.status in (301, 302, 303):
            return self.get_page(urljoin(url, response.headers["location"]))
        return self._page(response, url)

    def _page(self, response: Response, url: str) -> Page:
        parser = _PageParser()
        parser.feed(response.body.decode("utf-8", "replace"))
        return Page(response.status, url, parser.forms, parser.scripts, parser.ids)

    # -- the participant flow
    def entry_url(self) -> str:
        return f"{self.prefix}/s/{self.slug}/" + (f"?{urlencode(self.query)}" if self.query else "")

    def enter(self, *, agree: bool = True) -> Page:
        """Open the study link and answer the consent form; return the session's first page."""
        page = self.get_page(self.entry_url(), kind="entry")
        form = page.form("consent")
        if form is None:
            if page.stage != "ended" and page.status == 200:
                return self._remember(page)  # a returning panel id: its session resumes
            raise SimulatorError(
                f"no consent form at {page.url} (HTTP {page.status}): {page.texts.get('message', '')}"
            )
        fields = {**form["fields"], "decision": "agree" if agree else "decline"}
        return self._remember(self.post_form(form["action"], fields, kind="consent"))

    def _remember(self, page: Page) -> Page:
        if "/t/" in page.url:
            self.session_url = self._path(page.url).split("?")[0]
        return page

    def page(self) -> Page:
        return self.get_page(self.session_url, kind="page")

    def through_stages(
        self, page: Page, answers: Callable[[dict[str, Any]], dict[str, str]] | None = None
    ) -> Page:
        """Questionnaire, display check and instructions, until the trials page (or an end)."""
        for _step in range(6):
            stage = page.stage
            if stage in ("trials", "completed", "ended"):
                break
            form = page.form(stage)
            assert form is not None
            fields = dict(form["fields"])
            if stage == "questionnaire":
                fields.update((answers or questionnaire_answers)(form))
            elif stage == "display":
                fields["device"] = json.dumps(DEVICE)
            page = self.post_form(form["action"], fields, kind="stage")
        if page.stage == "trials":
            self.session_data = page.json("session-data")
            self.config = page.json("trial-config")
        return page

    def submit(
        self,
        trial: Mapping[str, Any],
        scores: Mapping[str, float],
        *,
        viewing_ms: int = 2500,
        response_ms: int = 1800,
        key: str | None = None,
        annotations: Mapping[str, Any] | None = None,
    ) -> Response:
        """POST one trial's answers to the JSON endpoint, with a fresh idempotency key per answer;
        ``annotations`` ({task key: answer}) for a study with annotation tasks."""
        payload: dict[str, Any] = {
            "index": trial["index"],
            "stimulus": trial["stimulus"],
            "scores": dict(scores),
            "key": key or str(uuid.uuid4()),
            "viewing_ms": viewing_ms,
            "response_ms": response_ms,
            "client_time": datetime.now(UTC).isoformat(),
        }
        if annotations is not None:
            payload["annotations"] = dict(annotations)
        body = json.dumps(payload).encode()
        return self.post_json(self.session_data["submit_url"], body)

    def post_json(self, url: str, body: bytes, *, kind: str = "rating") -> Response:
        headers = {
            "Content-Type": "application/json",
            "X-CSRFToken": self.session_data.get("csrf") or self.cookies.get("csrftoken", ""),
            "Origin": self.origin,
        }
        return self.request("POST", url, body, headers, kind=kind)


def questionnaire_answers(form: Mapping[str, Any]) -> dict[str, str]:
    """Plausible answers: the first option of every choice, a number for the rest."""
    answers = {name: values[0] for name, values in form["radios"].items() if values}
    for name, value in form["fields"].items():
        if name != "csrfmiddlewaretoken" and not value:
            answers[name] = "30"
    return answers


# --- One participant, many participants ---------------------------------------------------------
@dataclass
class ParticipantResult:
    rater: Rater
    query: dict[str, str]
    outcome: str = "not_started"  # completed, abandoned, screened_out, full, declined, error
    session_url: str = ""
    code: str = ""  # completion code shown at the end
    answered: int = 0  # trials acknowledged by the server (201 or 200)
    stored: list[dict[str, Any]] = field(default_factory=list)  # acknowledged answers
    refused: list[str] = field(default_factory=list)  # 4xx answers to ratings
    error: str = ""

    @property
    def token(self) -> str:
        return self.session_url.rstrip("/").rsplit("/", 1)[-1] if self.session_url else ""


#: What a rater answers to a study's annotation tasks on one trial: ``annotate(rater, trial)`` ->
#: ``{task key: answer}`` (ratings.annotations), or None for a study without tasks.
Annotate = Callable[[Rater, Mapping[str, Any]], dict[str, Any] | None]


def run_participant(
    client: ParticipantClient,
    rater: Rater,
    *,
    seed: int,
    think: tuple[float, float] = (0.0, 0.0),
    difficulty: float = 0.0,
    annotate: Annotate | None = None,
) -> ParticipantResult:
    """Walk one whole session; never raises (the outcome says what happened)."""
    result = ParticipantResult(rater=rater, query=dict(client.query))
    rng = random.Random(f"{seed}|think|{rater.index}")
    try:
        page = client.through_stages(client.enter())
        result.session_url = client.session_url
        if page.stage != "trials":
            result.outcome = "full" if page.stage == "ended" and not client.session_url else page.stage
            return result
        _rate_trials(
            client, rater, result, seed=seed, rng=rng, think=think, difficulty=difficulty, annotate=annotate
        )
    except SimulatorError as exc:
        result.outcome, result.error = "error", str(exc)
        client.stats.errors.append(str(exc))
    finally:
        client.close()
    return result


def _rate_trials(
    client: ParticipantClient,
    rater: Rater,
    result: ParticipantResult,
    *,
    seed: int,
    rng: random.Random,
    think: tuple[float, float],
    difficulty: float = 0.0,
    annotate: Annotate | None = None,
) -> None:
    data, config = client.session_data, client.config
    keys = [p["key"] for p in config["perspectives"]]
    scale = Scale.from_config(config)
    trials = list(data["trials"])
    stop_at = (
        math.floor(rater.abandon_after * data["trial_count"]) if rater.abandon_after is not None else None
    )
    status = ""
    pos = 0
    while pos < len(trials):
        trial = trials[pos]
        if stop_at is not None and trial["index"] >= stop_at:
            result.outcome = "abandoned"
            return
        if think[1] > 0:
            time.sleep(rng.uniform(*think))
        scores = rater_scores(rater, trial, keys, scale, seed, difficulty)
        annotations = annotate(rater, trial) if annotate is not None else None
        response = client.submit(trial, scores, annotations=annotations)
        body = response.json()
        if response.status in (200, 201):
            result.answered += 1
            result.stored.append(
                {
                    "index": trial["index"],
                    "stimulus": trial["stimulus"],
                    "kind": trial["kind"],
                    "scores": scores,
                    **({"annotations": annotations} if annotations is not None else {}),
                }
            )
            status = body.get("status", "")
            if status == "screened_out":
                break
        elif response.status == 409 and body.get("code") == "out_of_order":
            # Another tab moved on: reload, as the page does, and continue where the server is.
            page = client.page()
            if page.stage != "trials":
                break
            trials = list(page.json("session-data")["trials"])
            pos = 0
            continue
        else:
            result.refused.append(f"{response.status} {body.get('code', '')}: {body.get('detail', '')}")
        pos += 1
    end = client.page()
    result.code = end.texts.get("completion-code") or end.texts.get("screenout-code", "")
    result.outcome = {"completed": "completed"}.get(end.stage, status or end.stage)
    if end.stage == "ended":
        result.outcome = "screened_out" if status == "screened_out" else "ended"


@dataclass
class SimulationResult:
    participants: list[ParticipantResult]
    stats: Stats
    seconds: float

    @property
    def latencies(self) -> dict[str, list[float]]:
        return self.stats.latencies

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.participants:
            counts[p.outcome] = counts.get(p.outcome, 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        return {
            "participants": len(self.participants),
            "outcomes": self.outcomes(),
            "answers": sum(p.answered for p in self.participants),
            "refused": sum(len(p.refused) for p in self.participants),
            "retries": self.stats.retries,
            "errors": self.stats.errors[:20],
            "seconds": round(self.seconds, 2),
            "latency_ms": {kind: percentiles(values) for kind, values in self.stats.latencies.items()},
        }


def percentiles(values: list[float], points: tuple[int, ...] = (50, 99)) -> dict[str, float]:
    """Nearest-rank percentiles in milliseconds."""
    if not values:
        return {}
    ordered = sorted(values)
    out = {
        f"p{p}": round(1000 * ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)], 2)
        for p in points
    }
    out["n"] = len(ordered)
    return out


def default_query(rater: Rater, seed: int) -> dict[str, str]:
    return {"pid": f"sim-{seed}-{rater.index}-{uuid.uuid4().hex[:8]}"}


def simulate(
    base_url: str,
    slug: str,
    n: int,
    *,
    population: Population | None = None,
    concurrency: int = 8,
    query: Callable[[Rater], dict[str, str]] | None = None,
    think: tuple[float, float] = (0.0, 0.0),
    client_options: Mapping[str, Any] | None = None,
    annotate: Annotate | None = None,
) -> SimulationResult:
    """Run n simulated participants against base_url, `concurrency` at a time; ``annotate`` gives
    their answers to the study's annotation tasks (required on every trial of a study with tasks)."""
    population = population or Population()
    raters = population_plan(n, population)
    stats = Stats()
    lock = threading.Lock()

    def one(rater: Rater) -> ParticipantResult:
        params = query(rater) if query else default_query(rater, population.seed)
        client = ParticipantClient(base_url, slug, params, **dict(client_options or {}))
        outcome = run_participant(
            client,
            rater,
            seed=population.seed,
            think=think,
            difficulty=population.difficulty,
            annotate=annotate,
        )
        with lock:
            stats.merge(client.stats)
        return outcome

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="sim") as pool:
        results = list(pool.map(one, raters))
    return SimulationResult(results, stats, time.perf_counter() - started)
