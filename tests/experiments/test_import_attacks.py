"""Upload attacks not covered by test_imports.py: files that lie about being images, a truncated
image, a decompression bomb inside a valid-looking PNG, an oversized upload (page and API), and
formula payloads carried from a manifest all the way into the exported CSVs (neutralised).
Each refusal has a clear message and imports nothing."""

import csv
import io
import os
import struct
import zlib
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from analysis import services as analysis_services
from experiments.models import StimulusImport, Study
from tests.experiments.builders import image_bytes, make_zip
from tests.experiments.test_imports import assert_refused, run_import
from tests.factories import RatingSessionFactory, StudyFactory, UserFactory, ratings_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    return StudyFactory()


def one_image_zip(name: str, data: bytes) -> bytes:
    return make_zip({"manifest.csv": f"file,prompt,model\n{name},p,m\n".encode(), name: data})


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims width x height (one compressed row of zeros)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("text.png", b"#!/bin/sh\nrm -rf /\n"),
        ("page.png", b"<html><script>alert(1)</script></html>"),
        ("empty.png", b""),
        ("jpeg-named.png", b"\xff\xd8\xff\xe0" + b"\0" * 20),
    ],
)
def test_a_file_named_png_that_is_not_an_image_is_refused(study: Study, name: str, data: bytes) -> None:
    result = run_import(study, one_image_zip(name, data))

    assert_refused(study, result, f"{name}|not a readable image")


def test_a_truncated_image_is_refused(study: Study) -> None:
    whole = image_bytes(7)

    result = run_import(study, one_image_zip("cut.png", whole[: len(whole) // 2]))

    assert_refused(study, result, "cut.png|")
    assert "cut.png" in result.message or result.problems


def test_a_decompression_bomb_that_claims_a_huge_size_is_refused_before_decoding(study: Study) -> None:
    bomb = png_claiming(100_000, 100_000)  # 10 gigapixels declared in a few hundred bytes

    result = run_import(study, one_image_zip("bomb.png", bomb))

    assert len(bomb) < 2000
    assert_refused(study, result, "bomb.png|")
    text = " ".join(p["message"] for p in result.problems)
    assert "pixels" in text or "not a readable image" in text


def test_an_oversized_upload_is_refused_with_the_limit_on_the_page_and_in_the_api(settings: Any) -> None:
    # given
    settings.STIMULUS_UPLOAD_MAX_BYTES = 1000
    owner = UserFactory(username="uploader")
    study = StudyFactory(owner=owner)
    archive = make_zip({"manifest.csv": b"file,prompt,model\n", "big.bin": os.urandom(4000)})
    assert len(archive) > 1000

    # when
    page = Client()
    page.force_login(owner)
    form = page.post(
        reverse("experiments:import-create", args=[study.slug]),
        {"archive": SimpleUploadedFile("big.zip", archive), "kind": "manifest"},
        HTTP_ACCEPT="application/json",
    )
    api = APIClient()
    api.force_authenticate(owner)
    upload = api.post(
        f"/api/studies/{study.slug}/imports/",
        {"archive": SimpleUploadedFile("big.zip", archive), "kind": "manifest"},
        format="multipart",
    )

    # then
    assert form.status_code == 400
    assert "1,000 bytes" in " ".join(form.json()["errors"])
    assert upload.status_code in (400, 413)
    assert "1,000 bytes" in str(upload.json())
    assert not StimulusImport.objects.filter(study=study).exists()
    assert study.stimuli.count() == 0


def test_formula_payloads_from_a_manifest_are_neutralised_in_every_exported_csv() -> None:
    # given stimuli imported with spreadsheet formulas as prompt and model
    study = StudyFactory()
    payloads = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1)"]
    rows = "".join(f'{i}.png,"{p}","{p}"\n' for i, p in enumerate(payloads))
    files = {
        "manifest.csv": f"file,prompt,model\n{rows}".encode(),
        **{f"{i}.png": image_bytes(i) for i in range(4)},
    }
    result = run_import(study, make_zip(files))
    assert result.status == StimulusImport.Status.DONE, result.problems
    stimuli = list(study.stimuli.order_by("position"))
    assert [s.prompt for s in stimuli] == payloads  # stored exactly as given
    for r in range(3):
        ratings_add(
            RatingSessionFactory(participant__study=study),
            {
                s: {"quality": 1 + (i + r) % 5, "authenticity": 3, "correspondence": 2}
                for i, s in enumerate(stimuli)
            },
        )

    # when the study is analysed and exported
    run = analysis_services.analysis_run_start(study=study, method="mos", enqueue=False)
    analysis_services.analysis_run_execute(run_id=run.id)
    run.refresh_from_db()

    # then no text cell of any CSV starts like a formula
    risky = ("=", "+", "-", "@")
    for name in ("mos.csv", "raw_ratings.csv", "raters.csv"):
        with default_storage.open(f"{run.storage_dir}/{name}", "rb") as fh:
            table = list(csv.reader(io.StringIO(fh.read().decode())))
        cells = [c for row in table[1:] for c in row if c and not _is_number(c)]
        assert not [c for c in cells if c.startswith(risky)], name
        if name == "mos.csv":
            assert "'=cmd|' /C calc'!A0" in {c for row in table for c in row}, name


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
