"""analysis.stats is a pure library: no Django, no pandas, no I/O at import."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_importing_stats_loads_neither_django_nor_pandas():
    code = (
        "import analysis.stats, analysis.stats.reliability, sys; "
        "bad = [m for m in sys.modules if m.startswith('django') or m == 'pandas']; "
        "assert not bad, bad"
    )

    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "analysis" / "stats").glob("*.py")), ids=str)
def test_stats_modules_import_only_numpy_scipy_and_stdlib(path):
    allowed = {"numpy", "scipy", "__future__"} | set(sys.stdlib_module_names)
    imported = set()
    for line in path.read_text().splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("import", "from") and not line.startswith(" "):
            imported.add(words[1].split(".")[0])
    outside = {m for m in imported if m and m not in allowed}

    assert not outside, f"{path.name} imports {outside}"
    assert not re.search(r"\bprint\(", path.read_text())
