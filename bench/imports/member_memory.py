"""Peak memory of checking an upload with one 512 MiB member; prints a table. Not a test.

    .venv/bin/python bench/imports/member_memory.py              # every case, one subprocess each
    .venv/bin/python bench/imports/member_memory.py --mib 128    # a smaller member

The archive holds a manifest and `big.png`: a PNG signature followed by low-entropy bytes that
deflate about 4:1, so the member passes the ratio and total limits. Each case runs the import's
reading steps (open the zip and check it, plan the manifest, decode every planned image) in a
fresh subprocess and reports its peak RSS (ru_maxrss):

- baseline: the same steps on an archive with one small image (interpreter, Django, Pillow);
- no member cap: STIMULUS_IMPORT_MAX_MEMBER_BYTES set above the member (the behaviour before
  the cap: the member is read whole, then handed to Pillow);
- default cap: the settings' default; the member is refused before it is read.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = b"file,prompt,model\nbig.png,p,m\n"
CHUNK = 16 * 1024 * 1024


def write_archive(path: Path, member_bytes: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("manifest.csv", MANIFEST)
        with zf.open("big.png", "w", force_zip64=True) as out:
            out.write(b"\x89PNG\r\n\x1a\n")
            left = member_bytes - 8
            while left > 0:
                n = min(CHUNK, left)
                out.write(rng.integers(0, 4, n, dtype=np.uint8).tobytes())  # 2 bits a byte
                left -= n


def write_small_archive(path: Path) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buf, "PNG")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.csv", MANIFEST)
        zf.writestr("big.png", buf.getvalue())


def run_case(archive: str, cap: int | None) -> dict[str, object]:
    """In this (fresh) process: the import's reading steps; peak RSS at the end."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.update(
        {
            "DJANGO_READ_DOT_ENV": "false",
            "DJANGO_SECRET_KEY": "bench",
            "DATABASE_URL": "sqlite:///bench.sqlite3",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    from experiments.imports.manifest import plan_manifest
    from experiments.imports.sources import open_source
    from experiments.imports.validate import check_images

    if cap is not None:
        settings.STIMULUS_IMPORT_MAX_MEMBER_BYTES = cap
    with open_source(archive) as (source, problems):
        assert source is not None
        planned, plan_problems = plan_manifest(source, perspective_keys=[])
        checked, image_problems = check_images(source, planned, lambda done, total: None)
    every = [str(p) for p in problems + plan_problems + image_problems]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"peak_mib": peak_kib / 1024, "problems": every[:2], "checked": len(checked)}


def subprocess_case(archive: Path, cap: int | None) -> dict[str, object]:
    args = [sys.executable, __file__, "--case", str(archive)]
    if cap is not None:
        args += ["--cap", str(cap)]
    out = subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=512, help="size of the big member")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.cap)))
        return

    member = args.mib * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp, "small.zip"), Path(tmp, "big.zip")
        write_small_archive(small)
        write_archive(big, member)
        print(f"archive: {big.stat().st_size / 2**20:,.0f} MiB packed, member {args.mib:,} MiB unpacked")
        cases = {
            "baseline (64x64 PNG)": subprocess_case(small, None),
            "no member cap (before)": subprocess_case(big, member * 2),
            "default cap (after)": subprocess_case(big, None),
        }
    base = float(cases["baseline (64x64 PNG)"]["peak_mib"])  # type: ignore[arg-type]
    print(f"{'case':<26} {'peak RSS':>10} {'vs baseline':>12}  outcome")
    for name, result in cases.items():
        peak = float(result["peak_mib"])  # type: ignore[arg-type]
        outcome = "; ".join(result["problems"]) or f"{result['checked']} image(s) accepted"  # type: ignore[arg-type]
        print(f"{name:<26} {peak:>8,.0f} MiB {peak / base:>11.2f}x  {outcome[:110]}")


if __name__ == "__main__":
    main()
