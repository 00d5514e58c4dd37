"""Fuzzing the API from its OpenAPI schema (schemathesis), against a running server.

Shared by the bounded test (tests/security/test_api_fuzz.py) and the long run
(bench/chaos/fuzz_api.py). Every operation gets schema-valid ("positive") and schema-violating
("negative") requests, with random path parameters and with the ids of real objects the token's
user may see. A finding is a 5xx, or a 4xx without a message.
"""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode


@dataclass
class FuzzReport:
    calls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        by_class = Counter(f"{s // 100}xx" for s in self.statuses.elements())
        return f"{self.calls} requests: " + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()))


def has_message(response: requests.Response) -> bool:
    """A refusal names its reason: DRF's {"detail": ...} or field errors."""
    try:
        body = response.json()
    except ValueError:
        return bool(response.text.strip())
    if isinstance(body, dict):
        return bool(body.get("detail")) or any(body.values())
    return bool(body)


def real_path_parameters(path: str, ids: dict[str, Any]) -> dict[str, Any]:
    """Path parameters naming objects that exist (so the operation is reached past the lookup)."""
    params: dict[str, Any] = {}
    if "{slug}" in path:
        params["slug"] = ids["slug"]
    if "{id}" in path:
        if "analysis-runs" in path:
            params["id"] = ids["run"]
        elif "imports" in path:
            params["id"] = ids["import"]
        elif "stimuli" in path:
            params["id"] = ids["stimulus"]
    if "{path}" in path:
        params["path"] = "mos.csv"
    return params


def fuzz_api(
    base_url: str,
    *,
    token: str,
    ids: dict[str, Any],
    examples: int,
    seed: int | None = 0,
    log: Callable[[str], None] = lambda _line: None,
) -> FuzzReport:
    """Send `examples` generated requests per operation, mode and path-parameter choice."""
    raw = requests.get(f"{base_url}/api/schema/?format=json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)
    report = FuzzReport()
    session = requests.Session()
    headers = {"Authorization": f"Token {token}"}

    def check(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
        report.calls += 1
        report.statuses[response.status_code] += 1
        if response.status_code >= 500 or (response.status_code >= 400 and not has_message(response)):
            report.findings.append(
                f"{response.status_code} {case.method} {case.formatted_path} query={case.query} "
                f"body={_short(case.body)}: {response.text[:300]}"
            )

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for real in (False, True):
                kwargs = {"path_parameters": real_path_parameters(operation.path, ids)} if real else {}
                try:
                    strategy = operation.as_strategy(generation_mode=mode, **kwargs)
                except Exception as exc:  # an operation without a negative form, for instance
                    log(f"skip {operation.label} {mode.value}: {type(exc).__name__}")
                    continue

                @given(case=strategy)
                @settings(
                    max_examples=examples,
                    deadline=None,
                    database=None,
                    derandomize=seed is not None,
                    phases=[Phase.explicit, Phase.generate],  # no shrinking: every finding is kept as found
                    suppress_health_check=list(HealthCheck),
                )
                def run(case: Any) -> None:
                    check(case)

                try:
                    run()
                except Unsatisfiable:  # e.g. no schema-violating form with these path parameters
                    log(f"skip {operation.label} {mode.value} real={real}: nothing to generate")
        log(f"{operation.label}: {report.summary()}")
    session.close()  # keep-alive connections would keep the server's threads (and DB sessions) open
    return report


def _short(body: Any) -> str:
    try:
        text = json.dumps(body, default=str)
    except (TypeError, ValueError):
        text = repr(body)
    return text[:200]
