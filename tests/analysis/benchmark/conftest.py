import csv
import io

import numpy as np
import pytest
from django.core.files.storage import default_storage

from analysis import services
from tests.factories import rated_study_create


@pytest.fixture
def done_run(owner):
    """A done analysis run of a rated study of `owner` with 12 stimuli on two models."""
    study, _items, _people = rated_study_create(owner=owner, stimuli=12, raters=6, seed=3)
    run = services.analysis_run_start(study=study, method="bt500_zscore", enqueue=False)
    services.analysis_run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


def run_mos(run, key="quality"):
    """(stimulus names, MOS) from the run's own mos.csv in storage."""
    base = run.summary["storage_dir"]
    with default_storage.open(f"{base}/mos.csv", "rb") as fh:
        rows = list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")))
    return [r["stimulus"] for r in rows], np.array([float(r[f"{key}_mos"]) for r in rows])


def planted_predictions(run, seed=0) -> bytes:
    """Two metrics of the run's quality MOS: a close one and a noisy one."""
    names, mos = run_mos(run)
    rng = np.random.default_rng(seed)
    lines = ["stimulus,metric,score"]
    for metric, noise in (("close", 0.5), ("noisy", 12.0)):
        for name, s in zip(names, mos + rng.normal(0, noise, mos.size), strict=True):
            lines.append(f"{name},{metric},{float(s)!r}")
    return ("\n".join(lines) + "\n").encode()
