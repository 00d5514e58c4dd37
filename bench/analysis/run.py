"""Benchmark of the analysis core; prints a table. Not a test.

    .venv/bin/python bench/analysis/run.py            # every case, one subprocess each
    .venv/bin/python bench/analysis/run.py --case bt500_1m   # one case, JSON on stdout

Each case runs in a fresh subprocess so that its peak memory (ru_maxrss, whole process, data
generation included) is its own; ``alloc`` is the tracemalloc peak of one call (numpy
allocations included, data excluded). Times are the best of ``--repeat`` calls. The baseline
is a plain ``np.bincount`` mean over the same arrays, timed in the same process.

``compute_mos_cli_1m`` runs ``manage.py compute_mos`` as a user does (fresh process, empty
environment, 1M-rating CSV, all files written); its baseline is a fresh process that imports
pandas and reads the same CSV. ``--only CASE ...`` runs some cases. The analysis job and the
results page are measured by ``bench/analysis/job.sh`` (it needs PostgreSQL, Redis, a worker).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from synthetic import Study, make_study  # noqa: E402

from analysis.stats import Ratings, analyse, reliability  # noqa: E402

STUDIES = {
    "67k": (2_400, 28, 1.0),
    "100k": (10_000, 100, 0.10),
    "1m": (100_000, 1_000, 0.01),
}
TARGETS = {
    "bt500_1m": 2.0,
    "mle_1m": 10.0,
    "three_perspectives_67k": 0.3,
    "compute_mos_cli_1m": 3.0,
    "mle_20k_x_400_1pct": 10.0,
    "mle_20k_x_400_1pct_sweeps": 10.0,
    "mle_20k_x_400_1pct_exact": 10.0,
}


def ratings(st: Study) -> Ratings:
    return Ratings.from_arrays(
        rater=st.rater,
        stimulus=st.stimulus,
        score=st.score,
        n_raters=st.n_raters,
        n_stimuli=st.n_stimuli,
    )


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def alloc_peak(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def baseline(r: Ratings) -> Callable[[], Any]:
    def fn() -> Any:
        c = np.bincount(r.stimulus, minlength=r.n_stimuli)
        s = np.bincount(r.stimulus, weights=r.score, minlength=r.n_stimuli)
        with np.errstate(invalid="ignore", divide="ignore"):
            return s / c

    return fn


def case_method(study: str, method: str, repeat: int) -> dict[str, Any]:
    r = ratings(make_study(*STUDIES[study], seed=1))
    fn = lambda: analyse(r, method)  # noqa: E731
    res = analyse(r, method)
    out = {
        "ratings": r.n_ratings,
        "seconds": best_of(fn, repeat),
        "alloc_mb": alloc_peak(fn) / 2**20,
        "baseline_s": best_of(baseline(r), max(repeat, 5)),
        "rejected": res.n_rejected,
        "notes": list(res.notes),
    }
    return out


def case_three_perspectives(repeat: int) -> dict[str, Any]:
    rs = [ratings(make_study(*STUDIES["67k"], seed=s)) for s in (1, 2, 3)]
    fn = lambda: [analyse(r) for r in rs]  # noqa: E731
    fn()
    base = [baseline(r) for r in rs]
    return {
        "ratings": sum(r.n_ratings for r in rs),
        "seconds": best_of(fn, repeat),
        "alloc_mb": alloc_peak(fn) / 2**20,
        "baseline_s": best_of(lambda: [b() for b in base], max(repeat, 5)),
    }


def case_reliability_1m(repeat: int) -> dict[str, Any]:
    r = ratings(make_study(*STUDIES["1m"], seed=1))
    fn = lambda: reliability.split_half(r, rng=np.random.default_rng(0), n_splits=100)  # noqa: E731
    return {
        "ratings": r.n_ratings,
        "seconds": best_of(fn, 1),
        "alloc_mb": alloc_peak(lambda: reliability.split_half(r, rng=np.random.default_rng(0), n_splits=5))
        / 2**20,
        "baseline_s": best_of(baseline(r), 5),
    }


def case_offline_1m(repeat: int, splits: int) -> dict[str, Any]:
    import pandas as pd

    from analysis import offline

    st = make_study(*STUDIES["1m"], seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.csv"
        pd.DataFrame(
            {
                "rater": st.rater,
                "stimulus": st.stimulus,
                "perspective": "quality",
                "score": st.score.astype(np.int64),
            }
        ).to_csv(path, index=False)
        size = path.stat().st_size
        out = Path(tmp) / "out"
        seconds = best_of(lambda: offline.run(path, out, reliability_splits=splits, force=True), repeat)
        summary = offline.run(path, out, reliability_splits=splits, force=True)
    return {
        "ratings": int(st.score.size),
        "seconds": seconds,
        "csv_mb": size / 2**20,
        "phases": {k: round(v, 3) for k, v in summary.timings.items()},
    }


def _write_1m_csv(path: Path) -> None:
    st = make_study(*STUDIES["1m"], seed=1)
    with path.open("w") as fh:
        fh.write("rater,stimulus,perspective,score\n")
        fh.writelines(
            f"{r},{s},quality,{int(x)}\n"
            for r, s, x in zip(st.rater.tolist(), st.stimulus.tolist(), st.score.tolist(), strict=True)
        )


def _child(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a fresh process with an empty environment."""
    t = time.perf_counter()
    proc = subprocess.run(argv, env={}, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed: {proc.stderr}")
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def case_compute_mos_cli_1m(repeat: int) -> dict[str, Any]:
    """`manage.py compute_mos` end to end, as a user runs it: fresh process, no environment at all."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.csv"
        _write_1m_csv(path)
        out = Path(tmp) / "out"
        cli = [
            sys.executable,
            "manage.py",
            "compute_mos",
            "--input",
            str(path),
            "--output-dir",
            str(out),
            "--force",
        ]
        runs = [_child(cli) for _ in range(max(1, repeat))]
        # Baseline: a fresh process that imports pandas and reads the same CSV, nothing else.
        bare = [sys.executable, "-c", f"import pandas; pandas.read_csv({str(path)!r})"]
        base = min(_child(bare)[0] for _ in range(max(1, repeat)))
        files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    return {
        "ratings": 1_000_000,
        "seconds": min(s for s, _ in runs),
        "baseline_s": base,
        "maxrss_child_mb": max(m for _, m in runs),
        "files": files,
    }


def case_mle_sparse(repeat: int, solver: str = "accelerated") -> dict[str, Any]:
    """The MLE on a 20,000 x 400 study at 1% coverage (4 ratings per stimulus)."""
    r = ratings(make_study(20_000, 400, 0.01, seed=40, random_share=0.0))
    res = analyse(r, "mle", solver=solver)
    diag = res.diagnostics
    return {
        "ratings": r.n_ratings,
        "seconds": best_of(lambda: analyse(r, "mle", solver=solver), repeat),
        "baseline_s": best_of(baseline(r), 5),
        "notes": list(res.notes),
        "solver": {
            "name": solver,
            "converged": diag["converged"],
            "iterations": diag["iterations"],
            "exact_steps": diag.get("exact_steps"),
            "last_max_dx": diag["last_max_dx"],
        },
    }


CASES: dict[str, Callable[[int], dict[str, Any]]] = {
    "bt500_67k": lambda n: case_method("67k", "bt500_zscore", n),
    "three_perspectives_67k": case_three_perspectives,
    "bt500_100k": lambda n: case_method("100k", "bt500_zscore", n),
    "mle_100k": lambda n: case_method("100k", "mle", n),
    "bt500_1m": lambda n: case_method("1m", "bt500_zscore", n),
    "mos_1m": lambda n: case_method("1m", "mos", n),
    "vote_outliers_1m": lambda n: case_method("1m", "vote_outliers", n),
    "mle_1m": lambda n: case_method("1m", "mle", n),
    "split_half_100_1m": case_reliability_1m,
    "offline_1m_no_reliability": lambda n: case_offline_1m(n, 0),
    "offline_1m_reliability100": lambda n: case_offline_1m(1, 100),
    "compute_mos_cli_1m": case_compute_mos_cli_1m,
    "mle_20k_x_400_1pct": case_mle_sparse,
    "mle_20k_x_400_1pct_sweeps": lambda n: case_mle_sparse(1, "sweeps"),
    "mle_20k_x_400_1pct_exact": lambda n: case_mle_sparse(1, "exact"),
}


def run_case(name: str, repeat: int) -> dict[str, Any]:
    out = CASES[name](repeat)
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these cases")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.repeat)))
        return

    header = (
        f"{'case':28} {'ratings':>9} {'seconds':>8} {'target':>7} {'x bincount':>10} "
        f"{'alloc MB':>9} {'maxrss MB':>9}"
    )
    print(header)
    print("-" * len(header))
    details = {}
    for name in args.only or CASES:
        done = subprocess.run(
            [sys.executable, __file__, "--case", name, "--repeat", str(args.repeat)],
            capture_output=True,
            text=True,
            check=True,
        )
        res = json.loads(done.stdout.strip().splitlines()[-1])
        details[name] = res
        ratio = res["seconds"] / res["baseline_s"] if res.get("baseline_s") else float("nan")
        target = TARGETS.get(name)
        target_text = f"{target:.1f}" if target else "-"
        flag = "" if target is None else (" ok" if res["seconds"] <= target else " SLOW")
        alloc = f"{res['alloc_mb']:.0f}" if "alloc_mb" in res else "-"
        print(
            f"{name:28} {res['ratings']:>9} {res['seconds']:>8.3f} {target_text:>7} "
            f"{ratio:>10.1f} {alloc:>9} {res['maxrss_mb']:>9.0f}{flag}"
        )
    print()
    for name, res in details.items():
        extra = {
            k: v
            for k, v in res.items()
            if k
            in ("notes", "phases", "csv_mb", "rejected", "maxrss_child_mb", "files", "baseline_s", "solver")
        }
        if extra:
            print(f"{name}: {json.dumps(extra)}")


if __name__ == "__main__":
    main()
