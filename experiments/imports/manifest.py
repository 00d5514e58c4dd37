"""The CSV manifest: `file,prompt,model` required; `position,challenge,scene,role,name` and
`reference_<perspective key>` optional; any other column goes to the stimulus metadata.

Cells are stored exactly as written: a cell starting with = + - @ stays text (nothing here ever
evaluates it; exports neutralise such cells for spreadsheets).
"""

import csv
import io
import posixpath

from experiments.imports.plan import IMAGE_EXTENSIONS, Planned
from experiments.imports.problems import Problem
from experiments.imports.sources import Source, unsafe_name_reason

REQUIRED = ("file", "prompt", "model")
KNOWN = {"file", "prompt", "model", "position", "challenge", "scene", "role", "name"}
ROLES = {"test", "training", "gold"}
REFERENCE_PREFIX = "reference_"
NUL = "\x00"


def find_manifest(source: Source) -> tuple[str | None, list[Problem]]:
    """The one CSV in the source (a top-most `manifest.csv` wins when there are several)."""
    csvs = sorted((n for n in source.names() if n.lower().endswith(".csv")), key=lambda n: (n.count("/"), n))
    if not csvs:
        return None, [Problem("no CSV manifest found (add manifest.csv with the columns file,prompt,model)")]
    named = [n for n in csvs if posixpath.basename(n).lower() == "manifest.csv"]
    if named:
        return named[0], []
    if len(csvs) > 1:
        return None, [
            Problem(f"{len(csvs)} CSV files found ({', '.join(csvs[:5])}); name the manifest manifest.csv")
        ]
    return csvs[0], []


def decode_manifest(data: bytes, label: str) -> tuple[str | None, list[Problem]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        return None, [
            Problem(
                f"the manifest is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                "save it as 'CSV UTF-8'",
                file=label,
            )
        ]


def plan_manifest(
    source: Source, *, perspective_keys: list[str], manifest: bytes | None = None, manifest_name: str = ""
) -> tuple[list[Planned], list[Problem]]:
    """Read the manifest and pair every row with a file of the source, reporting every mismatch."""
    problems: list[Problem] = []
    if manifest is None:
        found, problems = find_manifest(source)
        if found is None:
            return [], problems
        manifest, manifest_name = source.read(found), found
        base = posixpath.dirname(found)
    else:
        base = ""
    text, problems = decode_manifest(manifest, manifest_name)
    if text is None:
        return [], problems
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    if any(NUL in h for h in header):
        return [], [Problem("the header row contains a NUL byte", file=manifest_name, row=1)]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], [
            Problem(
                f"the manifest lacks the column(s) {', '.join(missing)} (needed: file,prompt,model)",
                file=manifest_name,
                row=1,
            )
        ]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        return [], [
            Problem(
                f"the manifest has duplicate column(s) {', '.join(duplicated)}", file=manifest_name, row=1
            )
        ]
    unknown_refs = [
        h
        for h in header
        if h.startswith(REFERENCE_PREFIX) and h[len(REFERENCE_PREFIX) :] not in perspective_keys
    ]
    for h in unknown_refs:
        problems.append(
            Problem(
                f"column {h} names no perspective of this study ({', '.join(perspective_keys)})",
                file=manifest_name,
                row=1,
            )
        )

    files = set(source.names())
    planned: list[Planned] = []
    seen_files: dict[str, int] = {}
    for row_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            problems.append(
                Problem(f"{len(cells)} cells but the header has {len(header)} columns", row=row_no)
            )
            continue
        row = dict(zip(header, [c.strip() for c in cells] + [""] * (len(header) - len(cells)), strict=True))
        with_nul = [column for column, value in row.items() if NUL in value]
        if with_nul:
            # PostgreSQL text cannot hold NUL: refuse here, with the cell, not at the final insert.
            file = "" if "file" in with_nul else row["file"]
            problems += [
                Problem(f"the {column} cell contains a NUL byte", file=file, row=row_no)
                for column in with_nul
            ]
            continue
        item, row_problems = _plan_row(row, row_no, base, files, seen_files, perspective_keys)
        problems += row_problems
        if item is not None:
            planned.append(item)
    if not planned and not problems:
        problems.append(Problem("the manifest has no rows", file=manifest_name))
    listed = set(seen_files)
    for name in sorted(files):
        if name.lower().endswith(IMAGE_EXTENSIONS) and name not in listed:
            problems.append(Problem("this image has no row in the manifest", file=name))
    return planned, problems


def _plan_row(
    row: dict[str, str],
    row_no: int,
    base: str,
    files: set[str],
    seen_files: dict[str, int],
    perspective_keys: list[str],
) -> tuple[Planned | None, list[Problem]]:
    problems: list[Problem] = []
    cell = row["file"].replace("\\", "/")
    if not cell:
        return None, [Problem("the file cell is empty", row=row_no)]
    reason = unsafe_name_reason(cell, within="the manifest")
    if reason:
        return None, [Problem(reason, file=cell, row=row_no)]
    member = posixpath.normpath(posixpath.join(base, cell)) if base else posixpath.normpath(cell)
    if member not in files:
        problems.append(Problem("no such file in the upload", file=cell, row=row_no))
    elif member in seen_files:
        problems.append(
            Problem(f"the file is listed twice (also row {seen_files[member]})", file=cell, row=row_no)
        )
    else:
        seen_files[member] = row_no
    if not row["prompt"]:
        problems.append(Problem("the prompt is empty", file=cell, row=row_no))
    position = None
    if row.get("position"):
        try:
            position = int(row["position"])
            if position < 0:
                raise ValueError
        except ValueError:
            problems.append(
                Problem(f"position {row['position']!r} is not a whole number >= 0", file=cell, row=row_no)
            )
    elif "position" in row:
        problems.append(
            Problem("the position is empty (fill every row or drop the column)", file=cell, row=row_no)
        )
    role = row.get("role") or "test"
    if role not in ROLES:
        problems.append(Problem(f"role {role!r} is not one of test, training, gold", file=cell, row=row_no))
    references: dict[str, float] = {}
    for key in perspective_keys:
        value = row.get(REFERENCE_PREFIX + key, "")
        if value:
            try:
                references[key] = float(value)
            except ValueError:
                problems.append(Problem(f"reference_{key} {value!r} is not a number", file=cell, row=row_no))
    if problems:
        return None, problems
    categories = {k: row[k] for k in ("challenge", "scene") if row.get(k)}
    metadata = {k: v for k, v in row.items() if k not in KNOWN and not k.startswith(REFERENCE_PREFIX) and v}
    return (
        Planned(
            member=member,
            name=row.get("name") or cell,
            prompt=row["prompt"],
            generator=row["model"],
            position=position,
            role=role,
            row=row_no,
            categories=categories,
            metadata=metadata,
            reference_scores=references,
        ),
        [],
    )
