"""Manifest imports: the good case and every bad case; with any problem nothing is imported."""

import io
import zipfile
from typing import Any

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from experiments.models import StimulusImport, Study
from experiments.services import stimulus_import_claim, stimulus_import_execute
from tests.experiments.builders import image_bytes, make_zip, manifest_zip
from tests.factories import StimulusFactory, StudyFactory

pytestmark = pytest.mark.django_db


def run_import(study: Study, data: bytes, kind: str = StimulusImport.Kind.MANIFEST) -> StimulusImport:
    name = default_storage.save(f"imports/test/{study.pk}.zip", io.BytesIO(data))
    stimulus_import = StimulusImport.objects.create(study=study, kind=kind, source=name)
    assert stimulus_import_claim(import_id=stimulus_import.pk)
    stimulus_import.refresh_from_db()
    return stimulus_import_execute(stimulus_import=stimulus_import)


def messages(stimulus_import: StimulusImport) -> list[str]:
    return [f"{p['row']}|{p['file']}|{p['message']}" for p in stimulus_import.problems]


def assert_refused(study: Study, stimulus_import: StimulusImport, *fragments: str) -> None:
    assert stimulus_import.status == StimulusImport.Status.FAILED
    assert study.stimuli.count() == 0, "a refused import must import nothing"
    text = "\n".join(messages(stimulus_import))
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


@pytest.fixture
def study() -> Study:
    return StudyFactory()


def test_manifest_import_creates_every_stimulus_with_its_metadata(study: Study) -> None:
    csv = (
        "file,prompt,model,position,challenge,scene,role,seed,reference_quality\n"
        "a.png,a red apple,m1,10,Basic,Food,test,42,\n"
        "b.jpg,a blue car,m2,11,Imagination,Vehicles,training,7,4.5\n"
        "c.webp,a green tree,m1,12,,,gold,,2\n"
    )
    data = make_zip(
        {
            "manifest.csv": csv.encode(),
            "a.png": image_bytes(1),
            "b.jpg": image_bytes(2, "JPEG"),
            "c.webp": image_bytes(3, "WEBP"),
        }
    )

    result = run_import(study, data)

    assert result.status == StimulusImport.Status.DONE, result.problems
    assert result.imported_count == 3
    a, b, c = study.stimuli.order_by("position")
    assert (a.position, a.name, a.prompt, a.generator, a.role) == (10, "a.png", "a red apple", "m1", "test")
    assert a.categories == {"challenge": "Basic", "scene": "Food"}
    assert a.metadata == {"seed": "42"}
    assert (b.format, b.role, b.reference_scores) == ("JPEG", "training", {"quality": 4.5})
    assert (c.format, c.role, c.reference_scores, c.categories) == ("WEBP", "gold", {"quality": 2.0}, {})
    assert default_storage.exists(a.image.name)
    assert not default_storage.exists(result.source), "the spent archive is deleted"


def test_manifest_with_utf8_bom_and_subfolder_is_read(study: Study) -> None:
    csv = "\ufefffile,prompt,model\nimg/x.png,crème brûlée on a plate,m\n".encode()
    data = make_zip({"upload/manifest.csv": csv, "upload/img/x.png": image_bytes(5)})

    result = run_import(study, data)

    assert result.status == StimulusImport.Status.DONE, result.problems
    assert study.stimuli.get().prompt == "crème brûlée on a plate"


def test_positions_continue_after_existing_stimuli_when_the_manifest_has_none(study: Study) -> None:
    StimulusFactory(study=study, position=4)

    result = run_import(study, manifest_zip(2))

    assert result.status == StimulusImport.Status.DONE, result.problems
    assert list(study.stimuli.order_by("position").values_list("position", flat=True)) == [4, 5, 6]


def test_formula_like_cells_are_stored_as_plain_text(study: Study) -> None:
    csv = 'file,prompt,model,note\na.png,"=HYPERLINK(""http://x"")",+cmd,@SUM(A1)\n'
    data = make_zip({"manifest.csv": csv.encode(), "a.png": image_bytes(1)})

    result = run_import(study, data)

    assert result.status == StimulusImport.Status.DONE, result.problems
    stimulus = study.stimuli.get()
    assert (stimulus.prompt, stimulus.generator, stimulus.metadata) == (
        '=HYPERLINK("http://x")',
        "+cmd",
        {"note": "@SUM(A1)"},
    )


def test_non_utf8_manifest_is_refused_with_a_clear_message(study: Study) -> None:
    csv = "file,prompt,model\na.png,caf\xe9,m\n".encode("latin-1")
    result = run_import(study, make_zip({"manifest.csv": csv, "a.png": image_bytes(1)}))

    assert_refused(study, result, "not UTF-8", "manifest.csv")


def test_missing_required_columns_are_named(study: Study) -> None:
    result = run_import(
        study, make_zip({"manifest.csv": b"file,caption\na.png,x\n", "a.png": image_bytes(1)})
    )

    assert_refused(study, result, "prompt, model")


def test_a_broken_upload_lists_every_problem_with_rows_and_files_and_imports_nothing(study: Study) -> None:
    # given: one good image and one of each problem
    csv = (
        "file,prompt,model,position,role\n"
        "good.png,fine,m,0,test\n"  # row 2: fine
        "missing.png,p,m,1,test\n"  # row 3: no such file
        "broken.png,p,m,2,test\n"  # row 4: does not decode
        "anim.gif,p,m,3,test\n"  # row 5: format not allowed
        "dup.png,p,m,4,test\n"  # row 6: same bytes as good.png
        "empty.png,,m,5,test\n"  # row 7: empty prompt
        "pos.png,p,m,0,test\n"  # row 8: position 0 taken by row 2
        "role.png,p,m,7,judge\n"  # row 9: unknown role
        "../escape.png,p,m,8,test\n"  # row 10: path escapes
        "good.png,again,m,9,test\n"  # row 11: listed twice
    )
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    files = {
        "manifest.csv": csv.encode(),
        "good.png": image_bytes(1),
        "broken.png": b"\x89PNG\r\n\x1a\nnot really",
        "anim.gif": gif.getvalue(),
        "dup.png": image_bytes(1),
        "empty.png": image_bytes(2),
        "pos.png": image_bytes(3),
        "role.png": image_bytes(4),
        "orphan.png": image_bytes(5),
    }

    # when
    result = run_import(study, make_zip(files))

    # then
    assert_refused(
        study,
        result,
        "3|missing.png|no such file",
        "4|broken.png|not a readable image",
        "5|anim.gif|format GIF is not allowed",
        "6|dup.png|the same image as row 2, good.png",
        "7|empty.png|the prompt is empty",
        "8|pos.png|position 0 is also used by good.png",
        "9|role.png|role 'judge'",
        "10|../escape.png|'..'",
        "11|good.png|the file is listed twice (also row 2)",
        "None|orphan.png|this image has no row in the manifest",
    )
    assert len(result.problems) == 10
    assert "10 problem(s)" in result.message


def test_an_image_already_in_the_study_is_a_duplicate(study: Study) -> None:
    StimulusFactory(study=study, data=image_bytes(0), position=50)

    result = run_import(study, manifest_zip(1))

    assert result.status == StimulusImport.Status.FAILED
    assert "already has this image" in messages(result)[0]
    assert study.stimuli.count() == 1


def test_position_already_taken_in_the_study_is_refused(study: Study) -> None:
    StimulusFactory(study=study, position=0)
    data = make_zip({"manifest.csv": b"file,prompt,model,position\na.png,p,m,0\n", "a.png": image_bytes(9)})

    result = run_import(study, data)

    assert result.status == StimulusImport.Status.FAILED
    assert "already has a stimulus at position 0" in messages(result)[0]


def test_pixel_bomb_image_is_refused(study: Study) -> None:
    buf = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buf, "PNG")  # 48 MP, a few kB
    data = make_zip({"manifest.csv": b"file,prompt,model\nbig.png,p,m\n", "big.png": buf.getvalue()})

    result = run_import(study, data)

    assert_refused(study, result, "big.png|8000x6000 pixels exceeds the limit")


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("../evil.png", "'..'"),
        ("/etc/evil.png", "absolute paths"),
        ("C:/evil.png", "absolute paths"),
        ("a/../../evil.png", "'..'"),
    ],
)
def test_archive_members_that_escape_the_folder_are_refused(study: Study, member: str, expected: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.csv", "file,prompt,model\n")
        zf.writestr(zipfile.ZipInfo(member), image_bytes(1))

    result = run_import(study, buf.getvalue())

    assert_refused(study, result, member, expected)


def test_symlink_members_are_refused(study: Study) -> None:
    data = make_zip(
        {"manifest.csv": b"file,prompt,model\nlink.png,p,m\n"}, symlinks={"link.png": "/etc/passwd"}
    )

    result = run_import(study, data)

    assert_refused(study, result, "link.png|symbolic links are not allowed")


def test_zip_bomb_ratio_is_refused_before_reading(study: Study) -> None:
    data = make_zip({"manifest.csv": b"file,prompt,model\n", "zeros.bin": b"\0" * (20 * 1024 * 1024)})

    result = run_import(study, data)

    assert_refused(study, result, "zeros.bin|compression ratio", "zip bomb")


def test_unpacked_size_cap(study: Study, settings: Any) -> None:
    settings.STIMULUS_IMPORT_MAX_UNPACKED_BYTES = 100

    result = run_import(study, manifest_zip(3))

    assert_refused(study, result, "unpacks to", "the limit is 100 bytes")


def test_member_count_cap(study: Study, settings: Any) -> None:
    settings.STIMULUS_IMPORT_MAX_MEMBERS = 3

    result = run_import(study, manifest_zip(3))

    assert_refused(study, result, "4 members; the limit is 3")


def test_a_file_that_is_not_a_zip_is_refused(study: Study) -> None:
    result = run_import(study, b"this is not a zip")

    assert_refused(study, result, "not a readable zip archive")


def test_reference_column_must_name_a_perspective(study: Study) -> None:
    data = make_zip(
        {"manifest.csv": b"file,prompt,model,reference_sharpness\na.png,p,m,3\n", "a.png": image_bytes(1)}
    )

    result = run_import(study, data)

    assert_refused(study, result, "reference_sharpness names no perspective")


def test_import_from_a_server_folder_with_a_separate_manifest(study: Study, tmp_path: Any) -> None:
    from experiments.services import stimulus_import_run_local

    (tmp_path / "a.png").write_bytes(image_bytes(1))
    (tmp_path / "b.png").write_bytes(image_bytes(2))
    (tmp_path / "link.png").symlink_to(tmp_path / "a.png")
    manifest = b"file,prompt,model\na.png,p,m\nb.png,q,m\n"

    result = stimulus_import_run_local(study=study, path=str(tmp_path), kind="manifest", manifest=manifest)

    assert result.status == StimulusImport.Status.FAILED
    assert "link.png|symbolic links" in messages(result)[0]
    (tmp_path / "link.png").unlink()

    result = stimulus_import_run_local(study=study, path=str(tmp_path), kind="manifest", manifest=manifest)

    assert result.status == StimulusImport.Status.DONE, result.problems
    assert study.stimuli.count() == 2


def test_import_stimuli_command_reports_problems_and_exits_with_an_error(study: Study, tmp_path: Any) -> None:
    from django.core.management import CommandError, call_command

    (tmp_path / "manifest.csv").write_text("file,prompt,model\nnope.png,p,m\n")
    err = io.StringIO()

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_stimuli", study.slug, str(tmp_path), stderr=err)

    assert "row 2, nope.png: no such file" in err.getvalue()
