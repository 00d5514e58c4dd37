"""The direction of imports between the apps, read from the source with `ast` (every import,
at module level or inside a function).

    pilot        -> ratings, analysis, experiments   (nothing imports pilot)
    analysis     -> ratings, experiments
    ratings      -> experiments
    experiments  -> ratings only through ratings.selectors
    analysis/stats: numpy, scipy and the standard library only (no Django, no pandas, no app)
    *services.py never imports a *tasks module (services send jobs by name; tasks call services)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "experiments", "ratings", "analysis", "pilot")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, *, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`; `from x import y` yields both
    `x` and `x.y` (y may be a submodule, as in `from ratings import selectors`)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def sources(*packages: str) -> Iterator[tuple[Path, str]]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, module_name(path)


def found(paths: Iterator[tuple[Path, str]], forbidden: object) -> list[str]:
    """'file:line imports x' for each import that `forbidden(module, imported)` refuses."""
    out = []
    for path, module in paths:
        source = path.read_text(encoding="utf-8")
        for line, name in imports(source, module, is_package=path.name == "__init__.py"):
            if forbidden(module, name):  # type: ignore[operator]
                out.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return sorted(set(out))


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# --- The rules ----------------------------------------------------------------------------------
def experiments_reaches_ratings_beyond_selectors(module: str, name: str) -> bool:
    return under(name, "ratings") and name != "ratings" and not under(name, "ratings.selectors")


def imports_pilot(module: str, name: str) -> bool:
    return under(name, "pilot")


def imports_tasks(module: str, name: str) -> bool:
    return "tasks" in name.split(".")


STATS_ALLOWED = {"numpy", "scipy", "__future__", *sys.stdlib_module_names}


def stats_impure(module: str, name: str) -> bool:
    top = name.split(".")[0]
    if under(name, "analysis.stats"):
        return False
    return top not in STATS_ALLOWED


def test_experiments_reads_ratings_only_through_ratings_selectors() -> None:
    assert found(sources("experiments"), experiments_reaches_ratings_beyond_selectors) == []


def test_nothing_below_the_pilot_imports_it() -> None:
    assert found(sources("config", "experiments", "ratings", "analysis"), imports_pilot) == []


def test_services_never_import_tasks() -> None:
    services = ((p, m) for p, m in sources(*APPS) if p.stem == "services" or p.stem.endswith("_services"))
    assert found(services, imports_tasks) == []


def test_the_statistics_core_imports_no_django_pandas_or_app() -> None:
    assert found(sources("analysis/stats"), stats_impure) == []


# --- The checker sees what it must see ---------------------------------------------------------
@pytest.mark.parametrize(
    ("module", "source", "rule", "expected"),
    [
        (
            "experiments.dashboard",
            "from ratings.models import Rating",
            experiments_reaches_ratings_beyond_selectors,
            "ratings.models",
        ),
        (
            "experiments.x",
            "def f():\n    from ratings import allocation",
            experiments_reaches_ratings_beyond_selectors,
            "ratings.allocation",
        ),
        ("ratings.views", "import pilot.links as links", imports_pilot, "pilot.links"),
        ("analysis.stats.mos", "def f():\n    import pandas as pd", stats_impure, "pandas"),
        ("analysis.stats.mos", "from django.conf import settings", stats_impure, "django.conf"),
        ("analysis.stats.mos", "from ..loaders import x", stats_impure, "analysis.loaders"),
        ("analysis.services", "def f():\n    from analysis.tasks import t", imports_tasks, "analysis.tasks"),
        ("ratings.services", "from . import tasks", imports_tasks, "ratings.tasks"),
    ],
)
def test_a_forbidden_import_is_reported_wherever_it_is(
    module: str, source: str, rule: object, expected: str
) -> None:
    names = [name for _line, name in imports(source, module) if rule(module, name)]  # type: ignore[operator]

    assert expected in names


def test_allowed_imports_are_not_reported() -> None:
    allowed = "from ratings import selectors as ratings\nfrom ratings.selectors import valid_trials\n"
    stats = "from . import groupby\nimport numpy as np\nfrom scipy import stats\n"

    assert [
        n
        for _l, n in imports(allowed, "experiments.dashboard")
        if experiments_reaches_ratings_beyond_selectors("", n)
    ] == []
    assert [n for _l, n in imports(stats, "analysis.stats.mos") if stats_impure("", n)] == []
