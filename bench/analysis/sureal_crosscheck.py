"""Cross-check of analysis.stats against Netflix sureal 0.9.0; prints figures. Not a test.

    .venv/bin/pip install sureal==0.9.0    # bench only, never a runtime dependency
    .venv/bin/python bench/analysis/sureal_crosscheck.py

sureal's ``ZscoringSubjrejMosModel`` (subjective_model.py, ``_get_opinion_score_3darray_with_
preprocessing``) differs from our default ``bt500_zscore`` in four conventions, each of which
has an option here:

- it z-scores first and screens the z-scores              -> ``screen_on="zscores"``
- its S_j is ``np.std`` (population, divisor N)             -> ``screening_sd="population"``
- its ratio1 divides by E * R (all stimuli x repetitions)   -> ``screening_denominator="total"``
- a stimulus with S_j = 0 (or one rating) is not skipped: every vote equals the mean, so it
  counts as both P and Q (kurtosis is NaN there, so k = sqrt(20))
                                                             -> ``degenerate_stimuli="count"``

Its MOS is the mean of the z-scores (no 0..100 rescale); we compare ``6 * MOS / 100 - 3``.
Reject-none-if-all and the kurtosis (scipy ``kurtosis(fisher=False)``, population moments)
agree with ours by construction.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from synthetic import make_study  # noqa: E402

from analysis.stats import Ratings, analyse  # noqa: E402

try:
    from sureal.dataset_reader import RawDatasetReader
    from sureal.subjective_model import (
        MosModel,
        SubjectMLEModelProjectionSolver,
        ZscoringSubjrejMosModel,
    )
except ImportError:  # pragma: no cover
    sys.exit("sureal is not installed: .venv/bin/pip install sureal==0.9.0")

SUREAL_OPTIONS = {
    "screen_on": "zscores",
    "screening_sd": "population",
    "screening_denominator": "total",
    "degenerate_stimuli": "count",
}


def dataset(st, complete: bool) -> SimpleNamespace:
    """sureal dataset: list 'os' (complete design) or dict 'os' (missing raters)."""
    ref = [{"content_id": 0, "path": "ref", "content_name": "ref"}]
    dis = []
    by_stim: list[dict[int, float]] = [{} for _ in range(st.n_stimuli)]
    for i, j, u in zip(st.rater.tolist(), st.stimulus.tolist(), st.score.tolist(), strict=False):
        by_stim[j][i] = u
    for j, votes in enumerate(by_stim):
        os_ = (
            [votes[i] for i in range(st.n_raters)] if complete else {f"r{i:05d}": u for i, u in votes.items()}
        )
        dis.append({"content_id": 0, "asset_id": j, "path": f"dis{j}", "os": os_})
    return SimpleNamespace(ref_videos=ref, dis_videos=dis, dataset_name="synthetic")


def quiet(fn):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def ratings(st) -> Ratings:
    return Ratings.from_arrays(
        rater=st.rater,
        stimulus=st.stimulus,
        score=st.score,
        n_raters=st.n_raters,
        n_stimuli=st.n_stimuli,
    )


def compare_zscore_subjrej(label: str, st, complete: bool = True) -> float:
    reader = RawDatasetReader(dataset(st, complete))
    np.seterr(all="ignore")  # sureal divides 0/0 for raters without counts
    t = time.perf_counter()
    theirs = quiet(lambda: ZscoringSubjrejMosModel(reader).run_modeling())
    t_sureal = time.perf_counter() - t
    t = time.perf_counter()
    ours = analyse(ratings(st), "bt500_zscore", **SUREAL_OPTIONS)
    t_ours = time.perf_counter() - t

    z_mos = 6.0 * ours.stimuli.mos / 100.0 - 3.0
    diff = float(np.max(np.abs(z_mos - np.asarray(theirs["quality_scores"]))))
    same_rejections = list(ours.raters.rejected) == list(theirs["observer_rejected"])
    r1 = float(np.nanmax(np.abs(ours.raters.ratio1 - np.asarray(theirs["observer_rejected_1st_stats"]))))
    print(
        f"{label:44} max|dz-MOS| = {diff:.2e}  rejected {int(ours.raters.rejected.sum()):3d}/"
        f"{st.n_raters} same={same_rejections}  max|d ratio1| = {r1:.1e}  "
        f"sureal {t_sureal:.2f} s, ours {t_ours * 1000:.1f} ms"
    )
    return diff


def compare_mos(st) -> float:
    reader = RawDatasetReader(dataset(st, True))
    theirs = quiet(lambda: MosModel(reader).run_modeling())
    ours = analyse(ratings(st), "mos")
    diff = float(np.max(np.abs(ours.stimuli.mos - np.asarray(theirs["quality_scores"]))))
    print(f"{'MosModel vs mos':44} max|dMOS|   = {diff:.2e}")
    return diff


def compare_mle(st) -> None:
    reader = RawDatasetReader(dataset(st, True))
    theirs = quiet(lambda: SubjectMLEModelProjectionSolver(reader).run_modeling())
    ours = analyse(ratings(st), "mle")
    dx = float(np.max(np.abs(ours.stimuli.mos - np.asarray(theirs["quality_scores"]))))
    db = float(np.max(np.abs(ours.raters.bias - np.asarray(theirs["observer_bias"]))))
    dv = float(np.max(np.abs(ours.raters.inconsistency - np.asarray(theirs["observer_inconsistency"]))))
    print(
        f"{'SubjectMLEModelProjectionSolver vs mle':44} max|dx| = {dx:.1e}  max|db| = {db:.1e}  "
        f"max|dv| = {dv:.1e}  (stopping rules differ: L2 vs max |dx| < 1e-8)"
    )


def ablation(st) -> None:
    """Revert one sureal option at a time to our default: which conventions matter here?"""
    reader = RawDatasetReader(dataset(st, True))
    theirs = np.asarray(quiet(lambda: ZscoringSubjrejMosModel(reader).run_modeling())["quality_scores"])
    defaults = {
        "screen_on": "raw",
        "screening_sd": "sample",
        "screening_denominator": "rated",
        "degenerate_stimuli": "skip",
    }
    for key, value in defaults.items():
        ours = analyse(ratings(st), "bt500_zscore", **{**SUREAL_OPTIONS, key: value})
        diff = float(np.max(np.abs(6.0 * ours.stimuli.mos / 100.0 - 3.0 - theirs)))
        print(
            f"  ablation {key}={value!r:10} max|dz-MOS| = {diff:.2e}  rejected "
            f"{int(ours.raters.rejected.sum())}"
        )


def main() -> None:
    print("sureal 0.9.0 vs analysis.stats, options", SUREAL_OPTIONS)
    worst = 0.0
    big = make_study(2_400, 28, 1.0, seed=1, random_share=0.15)
    worst = max(worst, compare_zscore_subjrej("67k complete (2400 x 28, 15% random)", big))
    for seed in range(4):
        st = make_study(300, 40, 1.0, seed=10 + seed, random_share=0.25)
        worst = max(worst, compare_zscore_subjrej(f"complete 300 x 40, 25% random, seed {seed}", st))
    st = make_study(300, 40, 1.0, seed=20, random_share=0.25, levels=11)
    worst = max(worst, compare_zscore_subjrej("complete 300 x 40, 0..10 scale", st))
    inc = make_study(400, 60, 0.5, seed=30, random_share=0.2)
    worst = max(worst, compare_zscore_subjrej("incomplete 400 x 60 at 50% (dict os)", inc, complete=False))
    compare_mos(big)
    compare_mle(make_study(300, 40, 1.0, seed=40, random_share=0.0))
    ablation(make_study(300, 40, 1.0, seed=10, random_share=0.25))
    print(f"\nworst z-MOS difference: {worst:.2e}  ({'OK' if worst <= 1e-9 else 'MISMATCH'} at 1e-9)")
    # default conventions for contrast: how much the choices matter on the 67k case
    default = analyse(ratings(big))
    sureal_like = analyse(ratings(big), **SUREAL_OPTIONS)
    print(
        "67k case, default vs sureal-like options: rejected "
        f"{int(default.raters.rejected.sum())} vs {int(sureal_like.raters.rejected.sum())}, "
        "max|dMOS| = "
        f"{np.nanmax(np.abs(default.stimuli.mos - sureal_like.stimuli.mos)):.2f} (0..100)"
    )


if __name__ == "__main__":
    main()
