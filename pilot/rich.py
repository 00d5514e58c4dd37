"""Rich feedback in the pilot (issue 17): simulated marks from the planted truth, and how well the
analysis recovers it.

A test stimulus may carry a planted truth in ``metadata["planted"]`` (the demo's glitch variants
do, experiments/demo.py): ``box`` [x0, y0, x1, y1] normalised, origin top-left, and
``missing_token``, an index into ``tokenize_prompt(prompt)``. Simulated raters answer the study's
annotation tasks with :func:`analysis.stats.rich_sim.rater_answer`: honest raters mark the box with
noise (and a false point now and then) and the missing word most of the time, spammers mark at
random. The report then counts the artefact images whose heatmap peak falls inside the box, and
the images whose missing word is the uniquely top-rated one (issue 17 asks >= 90% for both with
10 raters per image).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from typing import Any

import numpy as np
from django.core.files.storage import default_storage

from analysis.models import AnalysisRun
from analysis.selectors import analysis_run_file_name, analysis_run_relative_files
from analysis.stats import rich_sim
from analysis.stats.rich import tokenize_prompt
from experiments.models import AnnotationTask, Stimulus, Study
from pilot import simulator
from ratings.annotations import MAX_POINTS

#: Share of images the recovery should reach (issue 17).
RECOVERY_TARGET = 0.9

Box = tuple[float, float, float, float]


def planted_of(metadata: Mapping[str, Any] | None) -> tuple[Box | None, int]:
    """The planted box (or None) and missing token (or -1) of a stimulus' metadata."""
    planted = (metadata or {}).get("planted") or {}
    box = planted.get("box")
    missing = planted.get("missing_token")
    out_box: Box | None = None
    if isinstance(box, list) and len(box) == 4:
        out_box = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
    return out_box, int(missing) if isinstance(missing, int) else -1


def annotator(study: Study, seed: int) -> simulator.Annotate | None:
    """The simulated raters' answers to ``study``'s annotation tasks; None without tasks.

    Deterministic in (seed, rater, stimulus), like the scores, whatever order the server
    allocates.
    """
    tasks = list(AnnotationTask.objects.filter(study=study).order_by("order").values_list("key", "kind"))
    if not tasks:
        return None
    planted = {
        pk: planted_of(meta)
        for pk, meta in Stimulus.objects.filter(study=study).values_list("pk", "metadata")
    }

    def annotate(rater: simulator.Rater, trial: Mapping[str, Any]) -> dict[str, Any]:
        box, missing = planted.get(int(trial["stimulus"]), (None, -1))
        n_tokens = len(trial.get("tokens") or tokenize_prompt(str(trial.get("prompt", ""))))
        rng = np.random.default_rng([seed, rater.index, int(trial["stimulus"])])
        points, marks = rich_sim.rater_answer(
            box,
            missing if missing < n_tokens else -1,
            n_tokens,
            rng=rng,
            random_rater=rater.kind == simulator.SPAMMER,
        )
        out: dict[str, Any] = {}
        for key, kind in tasks:
            if kind == AnnotationTask.Kind.REGIONS:
                pts = [[round(x, 4), round(y, 4)] for x, y in points.tolist()][:MAX_POINTS]
                out[key] = {"points": pts, "nothing": not pts}
            else:
                toks = np.flatnonzero(marks).tolist()
                out[key] = {"tokens": toks, "nothing": not toks}
        return out

    return annotate


def _unique_top(rates: list[float | None]) -> int:
    values = [r if r is not None else -1.0 for r in rates]
    top = max(values, default=-1.0)
    return values.index(top) if top > 0 and values.count(top) == 1 else -1


def _inside(peak: list[float] | None, box: Box) -> bool:
    return peak is not None and box[0] <= peak[0] <= box[2] and box[1] <= peak[1] <= box[3]


def _flagged_spammers(
    study: Study, planted_raters: list[dict[str, Any]], flagged: list[str]
) -> dict[str, int]:
    from ratings.models import Participant

    kind_of = {p.get("pid"): p.get("kind") for p in planted_raters}
    codes = dict(
        Participant.objects.filter(study=study, is_pilot=True, code__in=flagged).values_list(
            "code", "external_id"
        )
    )
    return {
        "flagged": len(flagged),
        "spammers": sum(
            1 for p in planted_raters if p.get("kind") == simulator.SPAMMER and p.get("answered")
        ),
        "flagged_spammers": sum(1 for c in flagged if kind_of.get(codes.get(c)) == simulator.SPAMMER),
    }


def recovery_report(
    study: Study, analysis: AnalysisRun, planted_raters: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """How well the analysis' heatmaps and word rates recover the planted truth; None when the
    analysis wrote no rich feedback (a study without annotation tasks)."""
    if "rich/richhf.json" not in analysis_run_relative_files(run=analysis):
        return None
    name = analysis_run_file_name(run=analysis, relative="rich/richhf.json")
    with default_storage.open(name, "rb") as fh:
        doc = json.load(fh)
    truth = {
        s_name: planted_of(meta)
        for s_name, meta in Stimulus.objects.filter(study=study, role=Stimulus.Role.TEST).values_list(
            "name", "metadata"
        )
    }
    region_hits, region_n, word_hits, word_n, raters = 0, 0, 0, 0, []
    for item in doc["images"]:
        box, missing = truth.get(item["filename"], (None, -1))
        if box is not None and "peak" in item:
            region_n += 1
            region_hits += _inside(item["peak"], box)
            raters.append(item.get("region_raters", 0))
        if missing >= 0 and "misaligned_rate" in item:
            word_n += 1
            word_hits += _unique_top(item["misaligned_rate"]) == missing
            raters.append(item.get("word_raters", 0))
    summary = doc.get("summary", {})
    return {
        "target": RECOVERY_TARGET,
        "artefact_images": region_n,
        "peak_in_region": region_hits,
        "peak_in_region_share": region_hits / region_n if region_n else None,
        "missing_word_images": word_n,
        "missing_word_top": word_hits,
        "missing_word_top_share": word_hits / word_n if word_n else None,
        "raters_per_image": {"min": min(raters), "median": statistics.median(raters)} if raters else None,
        "heatmap_agreement": summary.get("heatmap_agreement_mean"),
        "word_alpha": summary.get("word_alpha"),
        "random_markers": _flagged_spammers(study, planted_raters, list(summary.get("random_markers", []))),
    }
