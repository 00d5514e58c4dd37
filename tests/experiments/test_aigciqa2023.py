"""The AIGCIQA2023 layout import, on a small generated folder of that shape."""

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from experiments.models import StimulusImport, Study
from experiments.presets import AIGCIQA2023_MODELS
from tests.experiments.builders import write_aigciqa_folder, zip_folder
from tests.experiments.test_imports import run_import
from tests.factories import StudyFactory

pytestmark = pytest.mark.django_db


def test_command_imports_a_48_image_subset_with_positions_n_models_and_prompts(tmp_path: Path) -> None:
    # given: 6 models x 2 prompts x 4 samples
    study = StudyFactory()
    folder = write_aigciqa_folder(tmp_path / "AIGCIQA2023")

    # when
    out = io.StringIO()
    call_command("import_aigciqa2023", str(folder), "--study", study.slug, stdout=out)

    # then
    assert "48 stimuli imported" in out.getvalue()
    assert study.stimuli.count() == 48
    positions = sorted(study.stimuli.values_list("position", flat=True))
    assert positions == sorted(400 * m + 4 * p + k for m in range(6) for p in range(2) for k in range(4))
    s = study.stimuli.get(position=400 * 4 + 4 * 1 + 3)  # stable-diffusion, prompt row 1, sample 3
    assert (s.name, s.generator, s.prompt) == ("1607.png", "stable-diffusion", "prompt text 1")
    assert s.categories == {"challenge": "Challenge 1", "scene": "Scene 1"}
    assert s.metadata == {"p": 1, "k": 3, "original_file": "001-4.png"}
    assert set(study.stimuli.values_list("generator", flat=True)) == set(AIGCIQA2023_MODELS)


def test_command_can_create_the_study(tmp_path: Path, researcher: Any) -> None:
    folder = write_aigciqa_folder(tmp_path / "db", models=1, prompts=1)

    call_command(
        "import_aigciqa2023",
        str(folder),
        "--owner",
        researcher.username,
        "--title",
        "AIGC subset",
        stdout=io.StringIO(),
    )

    study = Study.objects.get(title="AIGC subset")
    assert (study.owner, study.stimuli.count()) == (researcher, 4)


def test_layout_as_a_zip_upload(tmp_path: Path) -> None:
    study = StudyFactory()
    data = zip_folder(write_aigciqa_folder(tmp_path / "AIGCIQA2023", models=2, prompts=1))

    result = run_import(study, data, kind=StimulusImport.Kind.AIGCIQA2023)

    assert result.status == StimulusImport.Status.DONE, result.problems
    assert sorted(study.stimuli.values_list("position", flat=True)) == [0, 1, 2, 3, 400, 401, 402, 403]


def test_images_beyond_the_layout_or_the_prompt_sheet_are_refused(tmp_path: Path, researcher: Any) -> None:
    study = StudyFactory(owner=researcher)
    folder = write_aigciqa_folder(tmp_path / "db", models=1, prompts=2, extra_n=[2400, 12])
    (folder / "Image" / "allimg" / "cover.png").write_bytes(b"x")
    err = io.StringIO()

    with pytest.raises(CommandError, match="3 problem"):
        call_command("import_aigciqa2023", str(folder), "--study", study.slug, stderr=err)

    text = err.getvalue()
    assert "Image/allimg/2400.png: N = 2400 is beyond the 2400 images" in text
    assert "Image/allimg/12.png: needs prompt row 4 but the sheet has 2 rows" in text
    assert "Image/allimg/cover.png: not an Image/allimg/{N}.png file" in text
    assert study.stimuli.count() == 0


def test_missing_prompt_sheet_is_reported(tmp_path: Path) -> None:
    study = StudyFactory()
    folder = write_aigciqa_folder(tmp_path / "db", models=1, prompts=1)
    (folder / "AIGCIQA2023_Prompts.xlsx").unlink()

    with pytest.raises(CommandError):
        call_command("import_aigciqa2023", str(folder), "--study", study.slug, stderr=io.StringIO())

    assert study.stimuli.count() == 0
    assert "AIGCIQA2023_Prompts.xlsx was not found" in str(StimulusImport.objects.get(study=study).problems)
