"""The offline pipeline (analysis.offline.run) on good and bad CSVs."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.io

from analysis import offline
from analysis.stats import Ratings, analyse


def write_csv(path, text, bom=False):
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def long_csv(tmp_path, bom=False):
    """3 perspectives (correspondence first), 4 raters, stimuli 10, 2, 1 (numeric ids)."""
    rng = np.random.default_rng(0)
    lines = ["session,rater,stimulus,perspective,score,response_ms"]
    for p in ["correspondence", "quality", "authenticity"]:
        for rater in ["r1", "r2", "r3", "r4"]:
            for stim in ["10", "2", "1"]:
                lines.append(f"s1,{rater},{stim},{p},{int(rng.integers(1, 6))},1000")
    return write_csv(tmp_path / "raw.csv", "\n".join(lines) + "\n", bom=bom)


def expected_mos(csv_path, perspective, order, method="bt500_zscore"):
    frame = pd.read_csv(csv_path, dtype=str, encoding="utf-8-sig")
    frame = frame[frame["perspective"] == perspective]
    raters = sorted(set(frame["rater"]))
    r = Ratings.from_arrays(
        rater=[raters.index(x) for x in frame["rater"]],
        stimulus=[order.index(x) for x in frame["stimulus"]],
        score=frame["score"].astype(float),
        n_stimuli=len(order),
    )
    return analyse(r, method).stimuli.mos


@pytest.mark.parametrize("bom", [False, True])
def test_good_csv_writes_every_file_in_numeric_stimulus_order(tmp_path, bom):
    path = long_csv(tmp_path, bom=bom)
    out = tmp_path / "out"

    summary = offline.run(path, out, reliability_splits=5)

    assert summary.perspectives == ("correspondence", "quality", "authenticity")
    assert summary.n_stimuli == 3
    assert summary.n_raters == 4
    assert summary.n_ratings == {"correspondence": 12, "quality": 12, "authenticity": 12}
    for d, key in enumerate(summary.perspectives, start=1):
        mos = scipy.io.loadmat(out / "DATA" / "MOS" / f"mosz{d}.mat")["MOSz"]
        np.testing.assert_allclose(mos.squeeze(-1), expected_mos(path, key, ["1", "2", "10"]))
        assert (out / "DATA" / "STD" / f"SD{d}.mat").exists()
        assert len((out / f"moz{d}.txt").read_text().splitlines()) == 3
    frame = pd.read_csv(out / "mos.csv")
    assert frame["stimulus"].tolist() == [1, 2, 10]
    assert frame["position"].tolist() == [0, 1, 2]
    raters = pd.read_csv(out / "raters.csv")
    assert len(raters) == 12
    assert raters["rater"].tolist()[:4] == ["r1", "r2", "r3", "r4"]
    doc = json.loads((out / "analysis.json").read_text())
    assert doc["method"] == "bt500_zscore"
    assert doc["input_fingerprint"].startswith("sha256:")
    assert doc["reliability"]["quality"]["split_half"]["n_splits"] <= 5


def test_perspectives_stimuli_order_method_and_params(tmp_path):
    path = long_csv(tmp_path)
    order = write_csv(tmp_path / "order.txt", "10\n1\n2\n99\n")
    out = tmp_path / "out"

    summary = offline.run(
        path,
        out,
        method="mos",
        perspectives=["quality", "correspondence"],
        stimuli_path=order,
        params={"ci": 0.9},
        reliability_splits=0,
    )

    assert summary.perspectives == ("quality", "correspondence")
    assert summary.params == {"ci": 0.9}
    assert summary.n_stimuli == 4
    mos = scipy.io.loadmat(out / "DATA" / "MOS" / "mosz1.mat")["MOSz"].squeeze(-1)
    np.testing.assert_allclose(mos, expected_mos(path, "quality", ["10", "1", "2", "99"], "mos"))
    assert np.isnan(mos[3])
    assert not (out / "moz3.txt").exists()
    assert pd.read_csv(out / "mos.csv")["stimulus"].tolist() == [10, 1, 2, 99]


def test_text_ids_are_sorted_as_text_and_extra_columns_ignored(tmp_path):
    path = write_csv(
        tmp_path / "raw.csv",
        "rater,stimulus,perspective,score,note\n"
        + "".join(f"{r},img{s},q,{(r + s) % 5 + 1},x\n" for r in range(3) for s in (3, 1, 2)),
    )

    summary = offline.run(path, tmp_path / "out", reliability_splits=0)

    assert pd.read_csv(tmp_path / "out" / "mos.csv")["stimulus"].tolist() == [
        "img1",
        "img2",
        "img3",
    ]
    assert summary.n_raters == 3


def bad(tmp_path, text):
    return write_csv(tmp_path / "bad.csv", text)


HEADER = "rater,stimulus,perspective,score\n"


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", offline.EmptyInputError, "is empty"),
        (HEADER, offline.EmptyInputError, "has a header but no ratings"),
        ("rater,stimulus,score\n1,2,3\n", offline.MissingColumnsError,
         "lacks column(s) perspective"),
        (HEADER + "1,2,q,3\n1,3,q,good\n", offline.NonNumericScoreError,
         "line 3: score 'good' is not a number"),
        (HEADER + "1,2,q,3\n1,3,q,\n", offline.MissingValueError, "line 3: empty score"),
        (HEADER + "1,2,q,inf\n", offline.NonNumericScoreError,
         "line 2: score inf is not a finite number"),
        (HEADER + "1,,q,3\n", offline.MissingValueError, "line 2: empty stimulus"),
    ],
)  # fmt: skip
def test_bad_csv_raises_specific_error(tmp_path, text, error, message):
    with pytest.raises(error) as info:
        offline.run(bad(tmp_path, text), tmp_path / "out")

    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, offline.OfflineInputError)


def test_missing_input_file(tmp_path):
    with pytest.raises(offline.InputNotFoundError, match="does not exist"):
        offline.run(tmp_path / "nope.csv", tmp_path / "out")


def test_unknown_method(tmp_path):
    with pytest.raises(offline.UnknownMethodError, match="unknown method 'magic'; available: "):
        offline.run(long_csv(tmp_path), tmp_path / "out", method="magic")


def test_bad_param(tmp_path):
    with pytest.raises(offline.InvalidParameterError, match="screen_on must be one of raw, zscores"):
        offline.run(long_csv(tmp_path), tmp_path / "out", params={"screen_on": "x"})


def test_unknown_perspective(tmp_path):
    with pytest.raises(offline.UnknownPerspectiveError, match="'beauty' not in the input; found: "):
        offline.run(long_csv(tmp_path), tmp_path / "out", perspectives=["quality", "beauty"])


def test_stimulus_missing_from_order_file(tmp_path):
    order = write_csv(tmp_path / "order.txt", "1\n2\n")

    with pytest.raises(offline.UnknownStimulusError, match="stimulus '10' is not in stimuli file"):
        offline.run(long_csv(tmp_path), tmp_path / "out", stimuli_path=order)


def test_duplicate_in_order_file(tmp_path):
    order = write_csv(tmp_path / "order.txt", "1\n2\n10\n2\n")

    with pytest.raises(offline.DuplicateStimulusError, match="lists '2' twice"):
        offline.run(long_csv(tmp_path), tmp_path / "out", stimuli_path=order)


def test_parse_params():
    assert offline.parse_params(["screen=false", "tol=1e-9", "max_iter=5", "screen_on=raw"]) == {
        "screen": False, "tol": 1e-9, "max_iter": 5, "screen_on": "raw",
    }  # fmt: skip
    with pytest.raises(offline.InvalidParameterError, match="must look like key=value"):
        offline.parse_params(["screen"])
