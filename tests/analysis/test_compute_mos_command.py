"""`manage.py compute_mos` as a user runs it: a real process, no database server needed."""

import os
import subprocess
import sys
from pathlib import Path

import scipy.io

ROOT = Path(__file__).resolve().parent.parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": "postgres://nobody:x@127.0.0.1:9/none"}  # unreachable on purpose
    return subprocess.run(
        [sys.executable, "manage.py", "compute_mos", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compute_mos_writes_mat_files_without_a_database(tmp_path: Path) -> None:
    # given 4 raters x 3 stimuli x 2 perspectives in long format, with an extra column
    rows = ["rater,stimulus,perspective,score,comment"]
    for rater, offset in enumerate([0, 1, -1, 0]):
        for stimulus, base in enumerate([1, 3, 5]):
            for perspective in ("quality", "correspondence"):
                rows.append(f"r{rater},{stimulus},{perspective},{max(1, min(5, base + offset))},x")
    (tmp_path / "raw.csv").write_text("\n".join(rows) + "\n")

    # when
    result = _run("--input", str(tmp_path / "raw.csv"), "--output-dir", str(tmp_path / "out"))

    # then
    assert result.returncode == 0, result.stderr
    labels = scipy.io.loadmat(tmp_path / "out" / "DATA" / "MOS" / "mosz1.mat")["MOSz"]
    assert labels.shape == (3, 1)
    assert labels[0][0] < labels[1][0] < labels[2][0]
    assert (tmp_path / "out" / "DATA" / "STD" / "SD2.mat").exists()
    assert len((tmp_path / "out" / "moz2.txt").read_text().splitlines()) == 3


def test_compute_mos_bad_input_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("rater,stimulus,score\nr1,1,3\n")

    result = _run("--input", str(tmp_path / "raw.csv"), "--output-dir", str(tmp_path / "out"))

    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "perspective" in lines[0]


def test_compute_mos_runs_with_no_environment_at_all(tmp_path: Path) -> None:
    # given no settings secrets, no DATABASE_URL, no REDIS_URL: not even PATH or HOME
    rows = ["rater,stimulus,perspective,score"] + [
        f"r{r},{s},quality,{(r + s) % 5 + 1}" for r in range(3) for s in range(4)
    ]
    (tmp_path / "raw.csv").write_text("\n".join(rows) + "\n")

    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "compute_mos",
            "--input",
            str(tmp_path / "raw.csv"),
            "--output-dir",
            str(tmp_path / "out"),
        ],  # fmt: skip
        cwd=ROOT,
        env={},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "4 stimuli, 3 raters" in result.stdout
    assert scipy.io.loadmat(tmp_path / "out" / "DATA" / "MOS" / "mosz1.mat")["MOSz"].shape == (4, 1)
