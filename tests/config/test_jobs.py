"""Services send jobs by task name (config.jobs.job_send): every name they use is a task the
worker knows, and a wrong name is refused before anything is published."""

import ast
from pathlib import Path

import pytest

from config.celery import app
from config.jobs import job_send

ROOT = Path(__file__).resolve().parents[2]


def sent_task_names() -> set[str]:
    names = set()
    for package in ("config", "experiments", "ratings", "analysis", "pilot"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "job_send" and node.args:
                    first = node.args[0]
                    if isinstance(first, ast.Constant):
                        names.add(first.value)
                    elif isinstance(first, ast.Name):  # a module constant, e.g. EXECUTE_TASK
                        names.add(_constant(path, first.id))
    return names


def _constant(path: Path, name: str) -> str:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            assert isinstance(node.value, ast.Constant)
            return str(node.value.value)
    raise AssertionError(f"{path}: no constant {name}")


def test_every_job_a_service_sends_is_a_registered_task() -> None:
    app.loader.import_default_modules()
    names = sent_task_names()

    assert {
        "analysis.tasks.analysis_run_execute_task",
        "experiments.tasks.stimulus_import_execute_task",
        "ratings.tasks.recount_stimulus_loads_task",
        "pilot.tasks.pilot_run_execute_task",
    } <= names
    assert names - set(app.tasks) == set()


def test_a_job_with_an_unknown_name_is_refused() -> None:
    with pytest.raises(LookupError, match="no Celery task named"):
        job_send("ratings.tasks.no_such_task", 1)
