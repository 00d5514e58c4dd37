"""Hostile or broken uploads that once got through: NUL bytes in manifest cells, a failure at the
final insert (nothing may stay in storage, the record must end "failed" with its reason, from the
API and from the command), member names in a legacy code page, an oversized member, and an
absolute path in a folder import's manifest."""

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection
from PIL import Image
from rest_framework.test import APIClient

from experiments.models import Stimulus, StimulusImport, Study, stimulus_upload_to
from experiments.services import stimulus_import_run_local
from experiments.tasks import stimulus_import_execute_task
from tests.experiments.builders import image_bytes, make_zip
from tests.experiments.test_imports import assert_refused, messages, run_import
from tests.factories import StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    return StudyFactory()


def fresh_png() -> bytes:
    """An image no other test stores: the media folder outlives each test's database."""
    buf = io.BytesIO()
    Image.frombytes("RGB", (24, 16), os.urandom(24 * 16 * 3)).save(buf, "PNG")
    return buf.getvalue()


def stored_name(data: bytes) -> str:
    """Where the import would store these image bytes (content-addressed)."""
    return stimulus_upload_to(Stimulus(sha256=hashlib.sha256(data).hexdigest(), format="PNG"), "")


class LegacyNameInfo(zipfile.ZipInfo):
    """A member whose name bytes are written as given, without the UTF-8 flag (as Windows'
    built-in zip and old archivers do with the system code page)."""

    def __init__(self, raw_name: bytes) -> None:
        super().__init__(raw_name.decode("cp437"))  # zipfile's view of flag-less names
        self.raw_name = raw_name

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # noqa: N802 - zipfile's name
        return self.raw_name, self.flag_bits


def zip_with_raw_names(manifest: str, images: dict[bytes, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.csv", manifest.encode())
        for raw_name, data in images.items():
            zf.writestr(LegacyNameInfo(raw_name), data)
    return buf.getvalue()


# --- NUL bytes ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "row", "column"),
    [
        ("file,prompt,model", "a.png,a red\x00apple,m", "prompt"),
        ("file,prompt,model,seed", "a.png,a red apple,m,4\x002", "seed"),
    ],
)
def test_a_nul_byte_in_a_manifest_cell_is_refused_with_its_row_and_column(
    study: Study, header: str, row: str, column: str
) -> None:
    image = fresh_png()
    data = make_zip({"manifest.csv": f"{header}\n{row}\n".encode(), "a.png": image})

    result = run_import(study, data)

    assert_refused(study, result, f"2|a.png|the {column} cell contains a NUL byte")
    assert not default_storage.exists(stored_name(image))
    assert not default_storage.exists(result.source), "the refused upload is deleted"


# --- A failure at the final insert ----------------------------------------------------------
@pytest.fixture
def insert_refused() -> None:
    """The database refuses a stimulus with the prompt 'boom' (a real constraint, rolled back with
    the test): the import fails after its files were stored, as any unexpected insert error would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE experiments_stimulus ADD CONSTRAINT test_refuse_boom CHECK (prompt <> 'boom')"
        )


def boom_archive() -> tuple[bytes, list[bytes]]:
    images = [fresh_png(), fresh_png()]
    manifest = b"file,prompt,model\na.png,fine,m\nb.png,boom,m\n"
    return make_zip({"manifest.csv": manifest, "a.png": images[0], "b.png": images[1]}), images


@pytest.mark.postgresql
@pytest.mark.usefixtures("insert_refused")
def test_an_api_import_that_fails_at_the_insert_ends_failed_with_the_reason_and_leaves_no_file() -> None:
    # given: an upload through the API (stored under imports/)
    owner = UserFactory(username="uploader")
    study = StudyFactory(owner=owner)
    archive, images = boom_archive()
    api = APIClient()
    api.force_authenticate(owner)
    created = api.post(
        f"/api/studies/{study.slug}/imports/",
        {"archive": SimpleUploadedFile("s.zip", archive), "kind": "manifest"},
        format="multipart",
    )
    assert created.status_code == 202, created.content
    stimulus_import = StimulusImport.objects.get(study=study)
    assert default_storage.exists(stimulus_import.source)

    # when: the job runs (called directly: the worker would run the same function)
    with pytest.raises(IntegrityError):
        stimulus_import_execute_task(stimulus_import.pk)

    # then
    stimulus_import.refresh_from_db()
    assert stimulus_import.status == StimulusImport.Status.FAILED
    assert "IntegrityError" in stimulus_import.message
    assert "nothing was imported" in stimulus_import.message
    assert study.stimuli.count() == 0
    assert not default_storage.exists(stimulus_import.source), "the upload under imports/ is deleted"
    for image in images:
        assert not default_storage.exists(stored_name(image)), "no image stays under stimuli/"
    shown = api.get(f"/api/studies/{study.slug}/imports/{stimulus_import.pk}/").json()
    assert (shown["status"], shown["message"]) == ("failed", stimulus_import.message)


@pytest.mark.postgresql
@pytest.mark.usefixtures("insert_refused")
def test_a_command_import_that_fails_at_the_insert_ends_failed_with_the_reason(
    study: Study, tmp_path: Path
) -> None:
    archive, images = boom_archive()
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        zf.extractall(tmp_path)

    with pytest.raises(CommandError, match="IntegrityError"):
        call_command("import_stimuli", study.slug, str(tmp_path), stderr=io.StringIO())

    stimulus_import = StimulusImport.objects.get(study=study)
    assert stimulus_import.status == StimulusImport.Status.FAILED
    assert stimulus_import.finished_at is not None
    assert study.stimuli.count() == 0
    for image in images:
        assert not default_storage.exists(stored_name(image))
    assert (tmp_path / "a.png").exists(), "the researcher's own folder is left alone"


@pytest.mark.postgresql
@pytest.mark.usefixtures("insert_refused")
def test_a_failed_import_keeps_a_stored_file_that_another_stimulus_uses(study: Study) -> None:
    # given: a.png is already a stimulus of another study
    archive, images = boom_archive()
    other = StudyFactory()
    done = run_import(
        other, make_zip({"manifest.csv": b"file,prompt,model\na.png,p,m\n", "a.png": images[0]})
    )
    assert done.status == StimulusImport.Status.DONE

    # when
    with pytest.raises(IntegrityError):
        run_import(study, archive)

    # then: b.png, written by the failed import, is gone; a.png, shared, stays
    assert not default_storage.exists(stored_name(images[1]))
    assert default_storage.exists(stored_name(images[0]))
    assert other.stimuli.get().image.name == stored_name(images[0])


# --- Legacy code-page names -----------------------------------------------------------------
def test_member_names_in_a_legacy_code_page_are_explained_not_listed_as_mojibake(study: Study) -> None:
    name = "苹果.png"
    data = zip_with_raw_names(f"file,prompt,model\n{name},an apple,m\n", {name.encode("gbk"): image_bytes(1)})

    result = run_import(study, data)

    text = "\n".join(messages(result))
    assert_refused(study, result, "not UTF-8 encoded", "re-create the zip with UTF-8 names", "7z a -tzip")
    assert "no row in the manifest" not in text


def test_utf8_member_names_without_the_utf8_flag_are_read_as_utf8(study: Study) -> None:
    name = "crème-brûlée.png"
    data = zip_with_raw_names(f"file,prompt,model\n{name},a dessert,m\n", {name.encode(): image_bytes(1)})

    result = run_import(study, data)

    assert result.status == StimulusImport.Status.DONE, result.problems
    assert study.stimuli.get().name == name


# --- Size of one member ---------------------------------------------------------------------
def test_a_member_above_the_per_file_limit_is_refused_before_it_is_read(study: Study, settings: Any) -> None:
    settings.STIMULUS_IMPORT_MAX_MEMBER_BYTES = 1000
    big = image_bytes(1) + b"\0" * 2000  # well below the ratio and total limits
    data = make_zip({"manifest.csv": b"file,prompt,model\nbig.png,p,m\n", "big.png": big})

    result = run_import(study, data)

    assert_refused(study, result, f"big.png|the file unpacks to {len(big):,} bytes; the limit is 1,000")


def test_a_folder_file_above_the_per_file_limit_is_refused(
    study: Study, settings: Any, tmp_path: Path
) -> None:
    settings.STIMULUS_IMPORT_MAX_MEMBER_BYTES = 1000
    (tmp_path / "manifest.csv").write_bytes(b"file,prompt,model\nbig.png,p,m\n")
    (tmp_path / "big.png").write_bytes(image_bytes(1) + b"\0" * 2000)

    result = stimulus_import_run_local(study=study, path=str(tmp_path), kind="manifest")

    assert_refused(study, result, "big.png|the file is", "the limit is 1,000")


# --- Folder imports -------------------------------------------------------------------------
def test_an_absolute_path_in_a_folder_manifest_is_not_called_an_archive_path(
    study: Study, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(image_bytes(1))
    manifest = f"file,prompt,model\n{tmp_path / 'a.png'},p,m\n".encode()

    result = stimulus_import_run_local(study=study, path=str(tmp_path), kind="manifest", manifest=manifest)

    assert_refused(study, result, "absolute paths are not allowed in the manifest: give the path relative")
    assert "archive" not in "\n".join(messages(result))
