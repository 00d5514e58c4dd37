"""Rich-feedback result files (issue 17), under ``rich/`` in a run's output folder. No Django.

- ``rich/heatmaps.npz``: one float32 array per image, key = the image's file name;
- ``rich/overlays/<stem>.png``: the heatmap as a colour map over the image;
- ``rich/words.csv``: one row per image and prompt token (counts and rates of marks);
- ``rich/richhf.json``: per image, every rater's normalised points and word marks, the
  aggregated figures, and the RichHF-18K token label string;
- ``rich/raters.csv``: one row per rater (answers, points, random-marker statistic and flag).

Every file and column: docs/exports.md ("Rich feedback"). CSV cells are written as
:mod:`analysis.exports` writes them (text that a spreadsheet would run as a formula is
prefixed with ``'``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from analysis.exports import _jsonable, _write_csv
from analysis.stats.rich import RegionAnswers, RichResult, WordAnswers

__all__ = [
    "RATER_COLUMNS",
    "WORD_COLUMNS",
    "RichImage",
    "colourise",
    "overlay_names",
    "render_overlay",
    "richhf_document",
    "write_heatmaps_npz",
    "write_overlays",
    "write_rich",
    "write_rich_raters_csv",
    "write_richhf_json",
    "write_words_csv",
]

PathLike = str | Path
WORD_COLUMNS = ("image", "token_index", "token", "marked", "raters", "rate")
RATER_COLUMNS = (
    "rater",
    "screened_out",
    "region_answers",
    "word_answers",
    "points",
    "closeness",
    "z",
    "random_marker",
)
#: Longest side of an overlay PNG, in pixels (larger images are scaled down).
OVERLAY_MAX_SIDE = 512
#: Opacity of the colour map where the heatmap is 1 (it fades to 0 with the heat).
OVERLAY_ALPHA = 0.65
# A perceptually ordered dark-to-bright ramp (black, purple, red, orange, pale yellow),
# interpolated to 256 entries.
_ANCHORS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]],
    dtype=np.float64,
)


@dataclass(frozen=True)
class RichImage:
    """What the files need to know about image ``i`` of the :class:`RichResult`."""

    name: str  # file name: the npz key and the overlay's name
    size: tuple[int, int]  # (width, height) px
    prompt: str
    tokens: list[str]
    # The image file for the overlay: a path, or a callable opening it (storage); None draws on grey.
    source: Path | Callable[[], BinaryIO] | None = None


# --------------------------------------------------------------------------- arrays


def write_heatmaps_npz(path: PathLike, result: RichResult, images: Sequence[RichImage]) -> Path:
    """``heatmaps.npz``: ``np.load(path)[name]`` is image ``name``'s (rows, cols) float32 map."""
    names = [img.name for img in images]
    if len(set(names)) != len(names):
        raise ValueError("image names must be unique: they are the keys of heatmaps.npz")
    if len(names) != len(result.heatmaps):
        raise ValueError(f"{len(names)} images for {len(result.heatmaps)} heatmaps")
    arrays = {name: hm.astype(np.float32) for name, hm in zip(names, result.heatmaps, strict=True)}
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
    return Path(path)


# --------------------------------------------------------------------------- overlays


def colourise(heat: np.ndarray) -> np.ndarray:
    """RGB uint8 colours of heat values in [0, 1] (any shape -> shape + (3,)).

    >>> colourise(np.array([0.0, 1.0])).tolist()
    [[0, 0, 4], [252, 255, 164]]
    """
    pos = np.clip(heat, 0.0, 1.0) * (len(_ANCHORS) - 1)
    lo = np.minimum(pos.astype(np.intp), len(_ANCHORS) - 2)
    frac = (pos - lo)[..., None]
    rgb = _ANCHORS[lo] * (1.0 - frac) + _ANCHORS[lo + 1] * frac
    return np.asarray(np.rint(rgb), dtype=np.uint8)


#: The 256 colours of the overlay palette, entry k for heat k / 255.
_PALETTE = colourise(np.linspace(0.0, 1.0, 256)).tobytes()


def _base_image(img: RichImage) -> Any:
    from PIL import Image

    if img.source is not None:
        try:
            fh = img.source() if callable(img.source) else open(img.source, "rb")  # noqa: SIM115
            with fh, Image.open(fh) as im:
                base = im.convert("RGB")
        except (OSError, ValueError):
            # A missing or undecodable file still gets its overlay, on grey.
            base = None
        if base is not None:
            base.thumbnail((OVERLAY_MAX_SIDE, OVERLAY_MAX_SIDE))
            return base
    w, h = img.size
    scale = min(1.0, OVERLAY_MAX_SIDE / max(w, h))
    return Image.new("RGB", (max(1, round(w * scale)), max(1, round(h * scale))), (128, 128, 128))


def render_overlay(img: RichImage, heatmap: np.ndarray) -> Any:
    """A PIL image: the picture with the heatmap's colours blended in where it is hot.

    The map is scaled to the picture bilinearly, coloured through a 256-entry palette
    (:func:`colourise`) and composited with opacity ``OVERLAY_ALPHA * heat``, all in Pillow.
    """
    from PIL import Image

    base = _base_image(img)
    heat = Image.fromarray(np.asarray(heatmap, dtype=np.float32)).resize(base.size, Image.Resampling.BILINEAR)
    level = np.asarray(np.clip(np.rint(np.asarray(heat) * 255.0), 0, 255), dtype=np.uint8)
    colour = Image.frombytes("P", base.size, level.tobytes())
    colour.putpalette(_PALETTE)
    mask = Image.fromarray(np.asarray(level * OVERLAY_ALPHA, dtype=np.uint8))
    return Image.composite(colour.convert("RGB"), base, mask)


def overlay_names(images: Sequence[RichImage]) -> list[str]:
    """Overlay file names: ``<stem>.png``, or ``<name>.png`` for images sharing a stem."""
    stems = [Path(img.name).stem or "image" for img in images]
    taken = {s: stems.count(s) for s in stems}
    return [f"{s}.png" if taken[s] == 1 else f"{img.name}.png" for s, img in zip(stems, images, strict=True)]


def write_overlays(out_dir: PathLike, result: RichResult, images: Sequence[RichImage]) -> list[Path]:
    """``overlays/<stem>.png`` for every image (:func:`overlay_names`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for img, hm, name in zip(images, result.heatmaps, overlay_names(images), strict=True):
        path = out / name
        render_overlay(img, hm).save(path, format="PNG", compress_level=1)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- CSVs


def write_words_csv(path: PathLike, result: RichResult, images: Sequence[RichImage]) -> Path:
    """``words.csv``: one row per image and token (columns :data:`WORD_COLUMNS`)."""
    cols: dict[str, list[Any]] = {c: [] for c in WORD_COLUMNS}
    for i, img in enumerate(images):
        marked = result.word_marked[i]
        if marked.size != len(img.tokens):
            raise ValueError(f"{img.name}: {marked.size} counts for {len(img.tokens)} tokens")
        n = int(result.word_raters[i])
        for t, token in enumerate(img.tokens):
            cols["image"].append(img.name)
            cols["token_index"].append(t)
            cols["token"].append(token)
            cols["marked"].append(int(marked[t]))
            cols["raters"].append(n)
            cols["rate"].append(float(result.word_rates[i][t]))
    return _write_csv(path, cols)


def write_rich_raters_csv(path: PathLike, result: RichResult, rater_ids: Sequence[Any]) -> Path:
    """``raters.csv``: analysed raters (by id), then the screened-out ones (figures empty)."""
    cols: dict[str, list[Any]] = {c: [] for c in RATER_COLUMNS}
    for j, r in enumerate(result.rater_ids.tolist()):
        cols["rater"].append(rater_ids[r])
        cols["screened_out"].append(False)
        cols["region_answers"].append(int(result.rater_region_answers[j]))
        cols["word_answers"].append(int(result.rater_word_answers[j]))
        cols["points"].append(int(result.rater_points[j]))
        cols["closeness"].append(float(result.rater_closeness[j]))
        cols["z"].append(float(result.rater_z[j]))
        cols["random_marker"].append(bool(result.random_marker[j]))
    for r in result.excluded_raters:
        cols["rater"].append(rater_ids[r])
        cols["screened_out"].append(True)
        for c in RATER_COLUMNS[2:]:
            cols[c].append(None)
    return _write_csv(path, cols)


# --------------------------------------------------------------------------- JSON


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _per_image_answers(
    answers: RegionAnswers | WordAnswers | None, excluded: set[int], n_images: int
) -> list[list[int]]:
    """Indices of each image's answers, raters in id order, screened-out raters left out."""
    out: list[list[int]] = [[] for _ in range(n_images)]
    if answers is None:
        return out
    for k in np.lexsort((answers.rater, answers.image)).tolist():
        if int(answers.rater[k]) not in excluded:
            out[int(answers.image[k])].append(k)
    return out


def _richhf_label(marked: np.ndarray, raters: int) -> str:
    """RichHF-18K's ``prompt_misalignment_label``: per token ``0`` = misaligned (marked by a
    strict majority of the raters), ``1`` = aligned, space separated."""
    return " ".join("0" if raters and 2 * int(m) > raters else "1" for m in marked.tolist())


def richhf_document(
    result: RichResult,
    images: Sequence[RichImage],
    *,
    regions: RegionAnswers | None,
    words: WordAnswers | None,
    rater_ids: Sequence[Any],
) -> dict[str, Any]:
    """The content of ``richhf.json`` (docs/exports.md); NaN becomes null."""
    excluded = set(result.excluded_raters)
    by_image_r = _per_image_answers(regions, excluded, len(images))
    by_image_w = _per_image_answers(words, excluded, len(images))
    overlays = overlay_names(images)
    items = []
    for i, img in enumerate(images):
        item: dict[str, Any] = {
            "filename": img.name,
            "width": img.size[0],
            "height": img.size[1],
            "prompt": img.prompt,
            "tokens": list(img.tokens),
            "overlay": f"overlays/{overlays[i]}",
        }
        if regions is not None:
            item["artifact_points"] = [
                {"rater": rater_ids[int(regions.rater[k])], "points": regions.points[k].tolist()}
                for k in by_image_r[i]
            ]
            item["region_raters"] = int(result.region_raters[i])
            item["peak"] = [float(v) for v in result.peaks[i]] if np.isfinite(result.peaks[i]).all() else None
            item["heatmap_agreement"] = _finite(float(result.heatmap_agreement[i]))
        if words is not None:
            item["token_labels"] = [
                {"rater": rater_ids[int(words.rater[k])], "misaligned": words.marked[k].astype(int).tolist()}
                for k in by_image_w[i]
            ]
            n = int(result.word_raters[i])
            item["word_raters"] = n
            item["misaligned_count"] = result.word_marked[i].tolist()
            item["misaligned_rate"] = [_finite(float(x)) for x in result.word_rates[i]]
            item["prompt_misalignment_label"] = _richhf_label(result.word_marked[i], n)
            item["word_alpha"] = _finite(float(result.word_alpha_by_image[i]))
        items.append(item)
    return {
        "format": "richhf-like-1",
        "method": {"name": result.name, "version": result.version, "parameters": dict(result.params)},
        "coordinates": "x, y normalised to [0, 1] of the image's width and height, origin top-left",
        "summary": {
            "images": len(images),
            "heatmap_agreement_mean": _finite(result.heatmap_agreement_mean),
            "word_alpha": _finite(result.word_alpha),
            "screened_out_raters": [rater_ids[r] for r in result.excluded_raters],
            "random_markers": [rater_ids[r] for r in result.rater_ids[result.random_marker].tolist()],
        },
        "images": items,
    }


def write_richhf_json(path: PathLike, doc: dict[str, Any]) -> Path:
    """Write ``richhf.json``: indented, except that each image is one compact line.

    json's C encoder only runs without indentation; indenting 2,400 images with their points
    in Python takes seconds.
    """
    head = {k: v for k, v in doc.items() if k != "images"}
    text = json.dumps(_jsonable(head), indent=1, ensure_ascii=False, allow_nan=False)
    lines = ",\n".join("  " + json.dumps(item, ensure_ascii=False, allow_nan=False) for item in doc["images"])
    body = f',\n "images": [\n{lines}\n ]\n}}' if lines else ',\n "images": []\n}'
    Path(path).write_text(text[: text.rindex("}")].rstrip() + body + "\n", encoding="utf-8")
    return Path(path)


# --------------------------------------------------------------------------- bundle


def write_rich(
    out_dir: PathLike,
    *,
    result: RichResult,
    images: Sequence[RichImage],
    regions: RegionAnswers | None,
    words: WordAnswers | None,
    rater_ids: Sequence[Any],
    overlays: bool = True,
) -> list[Path]:
    """Write every ``rich/`` file into ``out_dir/rich``; return their paths.

    ``images[i]`` describes image ``i`` of ``result``; ``rater_ids[r]`` is the id written for
    rater index ``r``. ``regions``/``words`` are the answers given to the analysis (the
    screened-out raters' answers are left out of ``richhf.json``).
    """
    rich = Path(out_dir) / "rich"
    rich.mkdir(parents=True, exist_ok=True)
    paths = [write_heatmaps_npz(rich / "heatmaps.npz", result, images)] if result.has_regions else []
    if result.has_regions and overlays:
        paths += write_overlays(rich / "overlays", result, images)
    if result.has_words:
        paths.append(write_words_csv(rich / "words.csv", result, images))
    doc = richhf_document(result, images, regions=regions, words=words, rater_ids=rater_ids)
    paths.append(write_richhf_json(rich / "richhf.json", doc))
    paths.append(write_rich_raters_csv(rich / "raters.csv", result, rater_ids))
    return paths
