"""The pilot's report: the recovered MOS against the planted truth, the screening against the
planted raters, the participants the study needs, and the scatter plot."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files import File
from django.core.files.storage import default_storage

from analysis.models import AnalysisRun
from analysis.selectors import analysis_run_file_name
from analysis.stats.recovery import recovery
from experiments.models import Perspective, Stimulus, Study
from pilot import modes, simulator
from pilot.models import PilotRun
from pilot.rich import recovery_report as rich_recovery_report
from pilot.selectors import participants_needed
from ratings.models import Participant

PLOT_NAME = "recovered-vs-true.png"
MODES_PLOT_NAME = "balanced-vs-precision.png"


def _mos_rows(analysis: AnalysisRun) -> dict[int, dict[str, str]]:
    with default_storage.open(analysis_run_file_name(run=analysis, relative="mos.csv"), "rb") as fh:
        return {int(row["position"]): row for row in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))}


def _float(value: str | None) -> float:
    try:
        return float(value) if value else float("nan")
    except ValueError:
        return float("nan")


def report_build(run: PilotRun, analysis: AnalysisRun) -> dict[str, Any]:
    study = run.study
    scale = simulator.Scale(kind=study.scale_kind, min=float(study.scale_min), max=float(study.scale_max))
    keys = list(study.perspectives.order_by("order").values_list("key", flat=True))
    stimuli = list(
        study.stimuli.filter(role=Stimulus.Role.TEST).order_by("position").values_list("pk", "position")
    )
    rows = _mos_rows(analysis)
    perspectives = []
    for key in keys:
        truth = [simulator.planted_truth(run.seed, pk, key, scale) for pk, _pos in stimuli]
        mos = [_float(rows.get(pos, {}).get(f"{key}_mos")) for _pk, pos in stimuli]
        counts = [_float(rows.get(pos, {}).get(f"{key}_n")) for _pk, pos in stimuli]
        r = recovery(truth, mos)
        perspectives.append(
            {
                "key": key,
                "n": r.n,
                "pearson": r.pearson,
                "spearman": r.spearman,
                "rmse": r.rmse,
                "slope": r.slope,
                "intercept": r.intercept,
                "points": [[round(t, 4), m] for t, m in zip(truth, mos, strict=True)],
                "ratings_per_stimulus": _spread(counts),
            }
        )
    screening = _screening(run, analysis)
    report = {
        "method": analysis.method,
        "mapping": "least-squares line from the recovered MOS to the planted truth; RMSE in scale points",
        "scale": {"min": scale.min, "max": scale.max},
        "perspectives": perspectives,
        "screening": screening,
        # Designs with few ratings per stimulus leave BT.500 screening powerless; the analysis says so.
        "screening_warnings": list((analysis.summary or {}).get("screening_warnings", [])),
        "target": _target(run, study, perspectives, screening),
        # Rich feedback (issue 17): the planted artefacts and missing words recovered, if asked.
        "rich": rich_recovery_report(study, analysis, list(run.planted or [])),
    }
    return _json_safe(report)


def _spread(counts: list[float]) -> dict[str, float]:
    values = np.nan_to_num(np.asarray(counts, dtype=float), nan=0.0)
    if not values.size:
        return {"min": 0, "median": 0, "max": 0}
    return {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max())}


def _screening(run: PilotRun, analysis: AnalysisRun) -> dict[str, Any]:
    """Planted kinds against what the analysis and quality control left out."""
    summary = analysis.summary or {}
    pids = [p["pid"] for p in run.planted if p.get("pid")]
    people = {
        ext: (pk, code)
        for pk, code, ext in Participant.objects.filter(
            study=run.study, is_pilot=True, external_id__in=pids
        ).values_list("pk", "code", "external_id")
    }
    rejected = {item["participant"]: item["reason"] for item in summary.get("rejected_raters", [])}
    qc = {item["rater"]: item["reason"] for item in summary.get("quality_control_excluded", [])}
    kinds: dict[str, dict[str, int]] = {}
    raters = []
    for planted in run.planted:
        pk, code = people.get(planted.get("pid", ""), (None, ""))
        reason = rejected.get(pk) or qc.get(code) or ""
        counted = planted.get("answered", 0) > 0
        row = kinds.setdefault(planted["kind"], {"planted": 0, "rated": 0, "caught": 0, "abandoned": 0})
        row["planted"] += 1
        row["rated"] += int(counted)
        row["caught"] += int(bool(reason))
        row["abandoned"] += int(planted.get("outcome") == "abandoned")
        raters.append(
            {
                "code": code,
                "kind": planted["kind"],
                "outcome": planted.get("outcome", ""),
                "answered": planted.get("answered", 0),
                "caught": reason,
            }
        )
    bad = [k for k in (simulator.SPAMMER, simulator.STRAIGHTLINER) if k in kinds]
    return {
        "kinds": kinds,
        "caught_bad": sum(kinds[k]["caught"] for k in bad),
        "planted_bad": sum(kinds[k]["rated"] for k in bad),
        "false_alarms": kinds.get(simulator.HONEST, {}).get("caught", 0),
        "raters": raters,
    }


def _target(
    run: PilotRun, study: Study, perspectives: list[dict[str, Any]], screening: dict[str, Any]
) -> dict[str, Any]:
    plan = participants_needed(study)
    outcomes = (run.simulation or {}).get("outcomes", {})
    started = sum(n for outcome, n in outcomes.items() if outcome not in ("full", "error", "not_started"))
    usable = sum(1 for r in screening["raters"] if r["outcome"] == "completed" and not r["caught"])
    share = usable / started if started else 0.0
    spread = perspectives[0]["ratings_per_stimulus"] if perspectives else {"min": 0}
    return {
        **plan,
        "pilot_started": started,
        "pilot_full": outcomes.get("full", 0),
        "usable_share": share,
        "recruit": math.ceil(plan["participants"] / share) if share else None,
        "pilot_spread": spread,
        "reached_in_pilot": spread["min"] >= study.target_ratings,
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def plot_save(run: PilotRun, report: dict[str, Any]) -> str:
    """A scatter plot per perspective: planted truth (x) against recovered MOS (y)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    items = report["perspectives"]
    fig = Figure(figsize=(4.2 * max(1, len(items)), 4.2), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    for k, item in enumerate(items, start=1):
        ax = fig.add_subplot(1, len(items), k)
        pts = np.asarray([(t, m if m is not None else np.nan) for t, m in item["points"]], dtype=float)
        if pts.size:
            ax.scatter(pts[:, 0], pts[:, 1], s=18, color="#4C72B0", alpha=0.8)
            if item["slope"]:
                xs = np.linspace(report["scale"]["min"], report["scale"]["max"], 20)
                # the fitted mapping, drawn in the plot's coordinates (MOS as a function of truth)
                ax.plot(xs, (xs - item["intercept"]) / item["slope"], color="#DD8452", lw=1.2)
        stats = f"r = {_fmt(item['pearson'])}, ρ = {_fmt(item['spearman'])}\nRMSE = {_fmt(item['rmse'])} scale points"
        ax.set_title(f"{item['key']}\n{stats}", fontsize=9)
        ax.set_xlabel("planted true score")
        ax.set_ylabel(f"recovered MOS ({report['method']})")
        ax.grid(alpha=0.3)
    return _save_figure(fig, run, PLOT_NAME)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def population_of(run: PilotRun) -> simulator.Population:
    """The pilot's simulated raters (the HTTP pilot and the allocation comparison share them)."""
    return simulator.Population(
        seed=run.seed,
        spammers=run.spammers,
        straightliners=run.straightliners,
        abandoners=run.abandoners,
        noise_min=run.noise * 0.6,
        noise_max=run.noise * 1.4,
        bias_sd=run.noise * 0.6,
        difficulty=run.difficulty,
    )


# --- Balanced against precision allocation ----------------------------------------------------
def modes_build(run: PilotRun) -> dict[str, Any]:
    """Simulate the whole study in both allocation modes (`pilot.modes`) and draw the figure."""
    study = run.study
    scale = simulator.Scale(kind=study.scale_kind, min=float(study.scale_min), max=float(study.scale_max))
    perspectives = list(
        Perspective.objects.filter(study=study).order_by("order").values_list("key", "target_half_width")
    )
    target, default_used = modes.target_for(
        [h for _key, h in perspectives], scale, study.precision_min_ratings, study.precision_max_ratings
    )
    ids = tuple(
        study.stimuli.filter(role=Stimulus.Role.TEST).order_by("position").values_list("pk", flat=True)
    )
    design = modes.Design(
        stimulus_ids=ids,
        keys=tuple(key for key, _h in perspectives),
        scale=scale,
        per_session=max(1, min(study.stimuli_per_session, len(ids))),
        target=target,
    )
    result = modes.compare(design, population_of(run))
    result["target_default"] = default_used
    result["difficulty_of"] = [
        simulator.planted_difficulty(run.seed, pk, run.difficulty) for pk in design.stimulus_ids
    ]
    result["plot"] = _modes_plot(run, result)
    return _json_safe(result)


def _modes_plot(run: PilotRun, result: dict[str, Any]) -> str:
    """Left: the 95th-percentile half-width against the valid ratings spent, per mode, with the
    target. Right: where each mode put its ratings (valid ratings per image against its difficulty)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    colors = {modes.BALANCED: "#4C72B0", modes.PRECISION: "#DD8452"}
    fig = Figure(figsize=(9.6, 4.0), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for mode, item in result["modes"].items():
        trace = np.asarray([t for t in item["trace"] if t[1] < 1e8], dtype=float).reshape(-1, 2)
        label = f"{mode}: {item['valid']} valid ratings"
        if trace.size:
            left.plot(trace[:, 0], trace[:, 1], color=colors[mode], lw=1.5, label=label)
        right.scatter(
            result["difficulty_of"], item["counts"], s=14, alpha=0.7, color=colors[mode], label=mode
        )
    left.axhline(max(result["target_half_width"]), color="#555", ls="--", lw=1, label="target")
    left.set_yscale("log")  # from several scale points down to the target: the end is what matters
    left.set_xlabel("valid ratings collected")
    left.set_ylabel("95th percentile of 95% CI half-widths")
    saving = result["saving"]
    left.set_title(f"saving {100 * saving:.1f} %" if saving is not None else "", fontsize=9)
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.set_xlabel("planted image difficulty (noise multiplier)")
    right.set_ylabel("valid ratings of the image")
    right.set_title("where the ratings went", fontsize=9)
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    return _save_figure(fig, run, MODES_PLOT_NAME)


def _save_figure(fig: Any, run: PilotRun, file_name: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / file_name
        fig.savefig(path, format="png")
        name = f"{run.storage_dir}/{file_name}"
        if default_storage.exists(name):
            default_storage.delete(name)
        with path.open("rb") as fh:
            return default_storage.save(name, File(fh, name=file_name))
