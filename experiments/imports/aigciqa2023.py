"""The AIGCIQA2023 layout: `Image/allimg/{N}.png` plus `AIGCIQA2023_Prompts.xlsx`.

N = 400*m + 4*p + k (m: model in AIGCIQA2023_MODELS order, p: 0-based prompt sheet row, k: sample
0..3); the stimulus position is N. A subset of the 2400 images is accepted (positions stay N, so
they may be sparse): that is how the layout is tested on a small folder, and how a researcher
re-rates part of the database. Images N >= 2400 and images whose prompt row is missing are refused.
"""

import io
import posixpath
import re
import zipfile

from experiments.imports.plan import IMAGE_EXTENSIONS, Planned
from experiments.imports.problems import Problem
from experiments.imports.sources import Source
from experiments.presets import AIGCIQA2023_MODELS

SHEET_NAME = "aigciqa2023_prompts.xlsx"
IMAGE_RE = re.compile(r"(?:^|/)Image/allimg/(\d+)\.png$")
PER_MODEL = 400  # 100 prompts x 4 samples


def read_prompt_sheet(data: bytes, label: str) -> tuple[list[tuple[str, str, str]], list[Problem]]:
    """(challenge, scene, prompt) per row; the sheet has no header row."""
    try:
        from openpyxl import load_workbook  # heavy (0.5 s): only when a workbook is read

        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        return [], [Problem(f"not a readable .xlsx workbook ({exc})", file=label)]
    rows: list[tuple[str, str, str]] = []
    problems: list[Problem] = []
    sheet = workbook.worksheets[0]
    for row_no, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = ["" if v is None else str(v).strip() for v in (list(values) + [None] * 3)[:3]]
        if not any(cells):
            continue
        if not cells[2]:
            problems.append(Problem("the prompt (third column) is empty", file=label, row=row_no))
        rows.append((cells[0], cells[1], cells[2]))
    workbook.close()
    if not rows:
        problems.append(Problem("the prompt sheet is empty", file=label))
    return rows, problems


def plan_aigciqa2023(source: Source) -> tuple[list[Planned], list[Problem]]:
    names = source.names()
    sheets = [n for n in names if posixpath.basename(n).lower() == SHEET_NAME]
    if not sheets:
        return [], [Problem("AIGCIQA2023_Prompts.xlsx was not found")]
    if len(sheets) > 1:
        return [], [Problem(f"AIGCIQA2023_Prompts.xlsx was found {len(sheets)} times ({', '.join(sheets)})")]
    prompts, problems = read_prompt_sheet(source.read(sheets[0]), sheets[0])
    planned: list[Planned] = []
    for name in sorted(names):
        match = IMAGE_RE.search(name)
        if match is None:
            if "/allimg/" in f"/{name}" or name.lower().endswith(IMAGE_EXTENSIONS):
                problems.append(
                    Problem("not an Image/allimg/{N}.png file of the AIGCIQA2023 layout", file=name)
                )
            continue
        n = int(match.group(1))
        m, rest = divmod(n, PER_MODEL)
        p, k = divmod(rest, 4)
        if m >= len(AIGCIQA2023_MODELS):
            problems.append(
                Problem(
                    f"N = {n} is beyond the {len(AIGCIQA2023_MODELS) * PER_MODEL} images of the layout",
                    file=name,
                )
            )
            continue
        if p >= len(prompts):
            problems.append(
                Problem(f"needs prompt row {p + 1} but the sheet has {len(prompts)} rows", file=name)
            )
            continue
        challenge, scene, prompt = prompts[p]
        planned.append(
            Planned(
                member=name,
                name=f"{n}.png",
                prompt=prompt,
                generator=AIGCIQA2023_MODELS[m],
                position=n,
                row=p + 1,
                categories={"challenge": challenge, "scene": scene},
                metadata={"p": p, "k": k, "original_file": f"{p:03d}-{k + 1}.png"},
            )
        )
    if not planned and not problems:
        problems.append(Problem("no Image/allimg/{N}.png files found"))
    return planned, problems
