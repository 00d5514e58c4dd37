"""rich/ files: written, loaded back the documented way, and equal to the marks."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from analysis import rich_exports
from analysis.rich_exports import RichImage
from analysis.stats import rich_sim
from analysis.stats.rich import RegionAnswers, WordAnswers, analyse, tokenize_prompt


@pytest.fixture
def study(tmp_path):
    # given 12 simulated images, one with a real picture and one with a formula-like prompt token
    rng = np.random.default_rng(11)
    planted = rich_sim.plant_images(12, rng=rng)
    planted[3] = rich_sim.PlantedImage(planted[3].size, planted[3].box, "=SUM(A1) cat on a mat", 1)
    sim = rich_sim.simulate_answers(planted, rng=rng, raters_per_image=5, images_per_rater=6)
    picture = tmp_path / "src.png"
    w, h = planted[0].size
    Image.new("RGB", (w, h), (20, 200, 30)).save(picture)
    images = [
        RichImage(
            f"img {k:02d}.jpg", p.size, p.prompt, tokenize_prompt(p.prompt), picture if k == 0 else None
        )
        for k, p in enumerate(planted)
    ]
    rater_ids = [f"P{k:03d}" for k in range(sim.n_raters)]
    excluded = {2}
    result = analyse(
        sim.regions,
        sim.words,
        sizes=[i.size for i in images],
        tokens=[i.tokens for i in images],
        excluded_raters=excluded,
    )
    out = tmp_path / "run"
    paths = rich_exports.write_rich(
        out, result=result, images=images, regions=sim.regions, words=sim.words, rater_ids=rater_ids
    )
    return {
        "sim": sim,
        "images": images,
        "result": result,
        "rater_ids": rater_ids,
        "excluded": excluded,
        "rich": out / "rich",
        "paths": paths,
    }


def kept(answers, excluded):
    return [k for k in range(answers.rater.size) if int(answers.rater[k]) not in excluded]


def test_every_documented_file_is_written(study):
    rich = study["rich"]

    names = sorted(p.relative_to(rich).as_posix() for p in study["paths"])

    assert {"heatmaps.npz", "words.csv", "richhf.json", "raters.csv"} <= set(names)
    assert sorted(n for n in names if n.startswith("overlays/")) == [
        f"overlays/img {k:02d}.png" for k in range(12)
    ]


def test_heatmaps_npz_loads_one_array_per_image_by_file_name(study):
    with np.load(study["rich"] / "heatmaps.npz") as npz:
        loaded = {k: npz[k] for k in npz.files}

    assert sorted(loaded) == sorted(i.name for i in study["images"])
    for img, hm in zip(study["images"], study["result"].heatmaps, strict=True):
        assert loaded[img.name].dtype == np.float32
        np.testing.assert_allclose(loaded[img.name], hm, rtol=1e-6, atol=1e-7)


def test_words_csv_counts_equal_the_marks(study):
    sim, excluded = study["sim"], study["excluded"]
    with open(study["rich"] / "words.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))

    # then each row's count is the number of kept raters who marked that token
    assert list(rows[0]) == list(rich_exports.WORD_COLUMNS)
    by_key = {(r["image"], int(r["token_index"])): r for r in rows}
    for i, img in enumerate(study["images"]):
        answers = [k for k in kept(sim.words, excluded) if sim.words.image[k] == i]
        for t, token in enumerate(img.tokens):
            row = by_key[(img.name, t)]
            marked = sum(bool(sim.words.marked[k][t]) for k in answers)
            assert int(row["marked"]) == marked
            assert int(row["raters"]) == len(answers)
            assert float(row["rate"]) == pytest.approx(marked / len(answers))
            assert row["token"] == ("'" + token if token.startswith("=") else token)
    assert len(rows) == sum(len(i.tokens) for i in study["images"])


def test_richhf_json_holds_exactly_the_kept_raters_marks(study):
    sim, excluded, ids = study["sim"], study["excluded"], study["rater_ids"]

    doc = json.loads((study["rich"] / "richhf.json").read_text(encoding="utf-8"))

    assert doc["format"] == "richhf-like-1"
    assert doc["summary"]["screened_out_raters"] == [ids[r] for r in sorted(excluded)]
    for i, item in enumerate(doc["images"]):
        img = study["images"][i]
        assert item["filename"] == img.name
        assert item["tokens"] == img.tokens
        expected_points = {
            ids[int(sim.regions.rater[k])]: sim.regions.points[k].tolist()
            for k in kept(sim.regions, excluded)
            if sim.regions.image[k] == i
        }
        assert {p["rater"]: p["points"] for p in item["artifact_points"]} == expected_points
        expected_marks = {
            ids[int(sim.words.rater[k])]: sim.words.marked[k].astype(int).tolist()
            for k in kept(sim.words, excluded)
            if sim.words.image[k] == i
        }
        assert {t["rater"]: t["misaligned"] for t in item["token_labels"]} == expected_marks
        # RichHF-18K's label string: 0 = misaligned by a strict majority, 1 = aligned
        votes = np.array(list(expected_marks.values())).sum(axis=0)
        majority = ["0" if 2 * v > len(expected_marks) else "1" for v in votes]
        assert item["prompt_misalignment_label"].split(" ") == majority
        assert item["overlay"] == f"overlays/img {i:02d}.png"


def test_richhf_json_peak_matches_the_npz_argmax(study):
    doc = json.loads((study["rich"] / "richhf.json").read_text(encoding="utf-8"))
    with np.load(study["rich"] / "heatmaps.npz") as npz:
        for item in doc["images"]:
            hm = npz[item["filename"]]
            r, c = np.unravel_index(np.argmax(hm), hm.shape)
            assert item["peak"] == pytest.approx([(c + 0.5) / hm.shape[1], (r + 0.5) / hm.shape[0]])


def test_raters_csv_lists_flags_and_the_screened_out_rater(study):
    res, ids = study["result"], study["rater_ids"]

    with open(study["rich"] / "raters.csv", newline="", encoding="utf-8") as fh:
        rows = {r["rater"]: r for r in csv.DictReader(fh)}

    assert rows["P002"]["screened_out"] == "true"
    assert rows["P002"]["points"] == ""
    for j, r in enumerate(res.rater_ids.tolist()):
        row = rows[ids[r]]
        assert row["screened_out"] == "false"
        assert int(row["points"]) == int(res.rater_points[j])
        assert row["random_marker"] == ("true" if res.random_marker[j] else "false")
    assert len(rows) == len(res.rater_ids) + 1


def test_overlay_is_the_picture_with_colour_where_the_heat_is(study):
    img, hm = study["images"][0], study["result"].heatmaps[0]

    overlay = Image.open(study["rich"] / "overlays" / "img 00.png").convert("RGB")

    assert overlay.size == (min(512, img.size[0]), round(img.size[1] * min(512, img.size[0]) / img.size[0]))
    pixels = np.asarray(overlay)
    cold = np.unravel_index(np.argmin(hm), hm.shape)
    hot = np.unravel_index(np.argmax(hm), hm.shape)

    def at(cell):
        return pixels[
            int((cell[0] + 0.5) / hm.shape[0] * overlay.size[1]),
            int((cell[1] + 0.5) / hm.shape[1] * overlay.size[0]),
        ]

    assert at(cold).tolist() == pytest.approx([20, 200, 30], abs=3)  # the picture shows through
    assert at(hot)[0] > 150  # the palette's bright end (pale yellow) on green


def test_a_study_without_a_region_task_writes_no_heatmaps(tmp_path):
    words = WordAnswers.from_lists([0, 1], [0, 0], [[True, False], [True, False]])
    result = analyse(None, words, sizes=[(10, 10)], tokens=[["cat", "hat"]])
    images = [RichImage("a.png", (10, 10), "cat hat", ["cat", "hat"])]

    paths = rich_exports.write_rich(
        tmp_path, result=result, images=images, regions=None, words=words, rater_ids=["x", "y"]
    )

    assert sorted(p.name for p in paths) == ["raters.csv", "richhf.json", "words.csv"]
    doc = json.loads((tmp_path / "rich" / "richhf.json").read_text())
    assert "artifact_points" not in doc["images"][0]
    assert doc["images"][0]["prompt_misalignment_label"] == "0 1"


def test_duplicate_image_names_are_refused(tmp_path):
    regions = RegionAnswers.from_lists([0], [0], [[[0.5, 0.5]]])
    result = analyse(regions, None, sizes=[(10, 10), (10, 10)], tokens=[[], []])
    images = [RichImage("a.png", (10, 10), "", []), RichImage("a.png", (10, 10), "", [])]

    with pytest.raises(ValueError, match="unique"):
        rich_exports.write_heatmaps_npz(tmp_path / "h.npz", result, images)
