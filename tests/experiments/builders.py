"""Builders for import archives and folders, and for ratings to show on a dashboard."""

import io
import stat
import uuid
import zipfile
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import Workbook
from PIL import Image

from experiments.models import Stimulus, Study
from ratings.models import Rating, RatingSession, Trial
from tests.factories import ParticipantFactory, RatingSessionFactory


def png(colour: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def image_bytes(n: int, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), ((n * 53) % 256, (n * 29) % 256, (n * 97) % 256)).save(buf, fmt)
    return buf.getvalue()


def make_zip(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def manifest_zip(
    rows: int = 3, *, header: str = "file,prompt,model", extra: dict[str, bytes] | None = None
) -> bytes:
    lines = [header] + [f"images/{i}.png,prompt {i},model-{i % 2}" for i in range(rows)]
    files = {"manifest.csv": ("\n".join(lines) + "\n").encode()}
    files.update({f"images/{i}.png": image_bytes(i) for i in range(rows)})
    files.update(extra or {})
    return make_zip(files)


def upload(data: bytes, name: str = "stimuli.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/zip")


def write_aigciqa_folder(
    root: Path, *, prompts: int = 2, models: int = 6, extra_n: list[int] | None = None
) -> Path:
    """A small folder of the AIGCIQA2023 shape: models x prompts x 4 images, positions N = 400m + 4p + k."""
    allimg = root / "Image" / "allimg"
    allimg.mkdir(parents=True)
    wb = Workbook()
    ws = wb.active
    for p in range(prompts):
        ws.append([f"Challenge {p}", f"Scene {p}", f"prompt text {p}"])  # no header row
    wb.save(root / "AIGCIQA2023_Prompts.xlsx")
    for m in range(models):
        for p in range(prompts):
            for k in range(4):
                n = 400 * m + 4 * p + k
                (allimg / f"{n}.png").write_bytes(image_bytes(n))
    for n in extra_n or []:
        (allimg / f"{n}.png").write_bytes(image_bytes(n + 7))
    return root


def zip_folder(root: Path) -> bytes:
    files = {
        str(p.relative_to(root)).replace("\\", "/"): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }
    return make_zip(files)


def add_ratings(
    study: Study,
    stimulus: Stimulus,
    n: int,
    *,
    response_ms: int = 3000,
    status: str = RatingSession.Status.COMPLETED,
) -> list[RatingSession]:
    """n participants each rate `stimulus` once on every perspective."""
    sessions = []
    perspectives = list(study.perspectives.all())
    for _ in range(n):
        session = RatingSessionFactory(participant=ParticipantFactory(study=study), status=status)
        trial = Trial.objects.create(
            session=session,
            index=0,
            stimulus=stimulus,
            kind=Trial.Kind.TEST,
            prompt_shown=stimulus.prompt,
            answered_at=timezone.now(),
        )
        for p in perspectives:
            Rating.objects.create(
                session=session,
                trial=trial,
                stimulus=stimulus,
                perspective=p,
                score=3,
                kind=Trial.Kind.TEST,
                prompt_shown=stimulus.prompt,
                trial_index=0,
                response_ms=response_ms,
                idempotency_key=uuid.uuid4(),
            )
        sessions.append(session)
    return sessions
