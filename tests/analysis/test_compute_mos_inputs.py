"""compute_mos (analysis.offline.main) on bad input and bad output folders: one line, exit 2."""

import errno
import json
from pathlib import Path

import numpy as np
import pytest

from analysis import exports, offline

HEADER = "rater,stimulus,perspective,score\n"


def _csv(tmp_path: Path, text: str, name: str = "raw.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _good(tmp_path: Path) -> Path:
    rows = [f"r{r},{s},quality,{(r + s) % 5 + 1}" for r in range(4) for s in range(6)]
    return _csv(tmp_path, HEADER + "\n".join(rows) + "\n")


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    status = offline.main(list(argv))
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return status, err


def _fails_with(capsys, message: str, *argv: str) -> None:  # type: ignore[no-untyped-def]
    status, err = _main(capsys, *argv)
    assert status == 2
    assert len(err) == 1, err
    assert message in err[0]


# --------------------------------------------------------------------------- output folder


def test_a_non_empty_output_folder_is_refused_and_force_replaces_it_whole(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mosz3.mat").write_text("stale")

    _fails_with(capsys, "is not empty", "--input", str(_good(tmp_path)), "--output-dir", str(out))
    assert (out / "mosz3.mat").exists()

    status, _ = _main(capsys, "--input", str(_good(tmp_path)), "--output-dir", str(out), "--force")
    assert status == 0
    assert not (out / "mosz3.mat").exists()  # no stale file next to the new results
    assert (out / "DATA" / "MOS" / "mosz1.mat").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("raw.csv", "is a file, not a folder"),
        ("raw.csv/sub", "is a file"),
    ],
)
def test_an_output_path_through_a_file_is_one_line(tmp_path, capsys, target, message) -> None:
    path = _good(tmp_path)
    _fails_with(capsys, message, "--input", str(path), "--output-dir", str(tmp_path / target))


def test_an_unwritable_output_folder_is_one_line(tmp_path, capsys) -> None:
    # /sys refuses new folders even to root (the tests may run as root, which ignores chmod)
    _fails_with(
        capsys,
        "cannot write the output folder",
        "--input",
        str(_good(tmp_path)),
        "--output-dir",
        "/sys/compute-mos-out",
    )


def test_a_full_disk_leaves_nothing_behind(tmp_path, capsys, monkeypatch) -> None:
    # given a disk that fills up while mos.csv is written (the files before it are complete)
    def full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(exports, "write_mos_csv", full)
    out = tmp_path / "out"

    _fails_with(capsys, "the disk is full", "--input", str(_good(tmp_path)), "--output-dir", str(out))

    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.csv"]  # no partial folder either


# --------------------------------------------------------------------------- input


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEADER + "r1,1,q,3\nr1,2,q,4,oops\n", "line 3 has 5 columns, the header has 4"),
        (HEADER + "r1,1,q,3\nr1,2,q\n", "line 3 has 3 columns, the header has 4"),
        (HEADER + 'r1,1,"q",3\nr1,2,q,4,x\n', "line 3 has 5 columns, the header has 4"),
        (HEADER + "r1,1,q,3\n\nr1,2,q,4\n", "line 3 is blank"),
        (HEADER + "r1,1,q,3\nr1,1,q,4\n", "lines 2 and 3 rate the same stimulus"),
        (HEADER + "r1,1,q,1e300\n", "line 2: score 1e+300 is not a plausible rating"),
    ],
)
def test_bad_rows_are_named_by_line(tmp_path, capsys, text, message) -> None:
    _fails_with(capsys, message, "--input", str(_csv(tmp_path, text)), "--output-dir", str(tmp_path / "o"))


def test_scores_outside_the_scale_are_refused(tmp_path, capsys) -> None:
    path = _csv(tmp_path, HEADER + "r1,1,q,3\nr1,2,q,7\nr2,1,q,-3\n")

    _fails_with(capsys, "line 3: score 7 is outside the scale 1..5", "--input", str(path), "--output-dir",
                str(tmp_path / "o"), "--scale", "1..5")  # fmt: skip
    _fails_with(capsys, "must look like MIN..MAX", "--input", str(path), "--output-dir", str(tmp_path / "o"),
                "--scale", "5..1")  # fmt: skip


def test_the_scale_comes_from_the_exports_metadata(tmp_path, capsys) -> None:
    path = _csv(tmp_path, HEADER + "r1,0,q,3\nr1,1,q,9\n", name="raw_ratings.csv")
    meta = {"export": {"raw_ratings": "raw_ratings.csv"}, "scale": {"min": 1, "max": 5},
            "stimuli": [{"position": 0, "name": "a"}, {"position": 1, "name": "b"}], "perspectives": []}  # fmt: skip
    (tmp_path / "analysis.json").write_text(json.dumps(meta))

    _fails_with(capsys, "line 3: score 9 is outside the scale 1..5 (from the export's metadata)",
                "--input", str(path), "--output-dir", str(tmp_path / "o"))  # fmt: skip


def test_duplicates_can_be_averaged_and_the_result_says_so(tmp_path, capsys) -> None:
    rows = [f"r{r},{s},quality,{(r * s) % 5 + 1}" for r in range(4) for s in range(4)]
    path = _csv(tmp_path, HEADER + "\n".join(rows + ["r0,1,quality,5"]) + "\n")
    out = tmp_path / "o"

    status, err = _main(capsys, "--input", str(path), "--output-dir", str(out), "--duplicates", "average",
                        "--method", "mos", "--reliability-splits", "0")  # fmt: skip

    assert status == 0
    assert any("averaged 1 duplicate rows" in line for line in err)
    doc = json.loads((out / "analysis.json").read_text())
    assert doc["input"]["duplicates"] == {"policy": "average", "rows_merged": 1}
    mos = np.loadtxt(out / "moz1.txt")
    # stimulus 1: r0 gave 1 and 5 (mean 3), r1..r3 gave 2, 3, 4
    assert mos[1] == pytest.approx((3 + 2 + 3 + 4) / 4)


def test_stimuli_without_ratings_are_warned_about_and_listed(tmp_path, capsys) -> None:
    path = _good(tmp_path)
    order = _csv(tmp_path, "0\n1\n2\n3\n4\n5\n99\n", name="stimuli.txt")
    out = tmp_path / "o"

    status, err = _main(capsys, "--input", str(path), "--output-dir", str(out), "--stimuli", str(order))

    assert status == 0
    assert any("1 stimuli have no ratings (their rows are NaN): 99" in line for line in err)
    doc = json.loads((out / "analysis.json").read_text())
    assert [s["name"] for s in doc["stimuli"]] == [0, 1, 2, 3, 4, 5, 99]


def test_the_mos_csv_header_is_neutralised(tmp_path, capsys) -> None:
    rows = [f"r{r},{s},=cmd,{(r + s) % 5 + 1}" for r in range(4) for s in range(4)]
    out = tmp_path / "o"

    status, _ = _main(
        capsys, "--input", str(_csv(tmp_path, HEADER + "\n".join(rows) + "\n")), "--output-dir", str(out)
    )

    assert status == 0
    header = (out / "mos.csv").read_text().splitlines()[0].split(",")
    assert "'=cmd_mos" in header
    assert not any(cell.startswith("=") for cell in header)


def test_too_few_ratings_per_stimulus_says_screening_cannot_work(tmp_path, capsys) -> None:
    # 20 raters, 200 stimuli, 4 ratings per stimulus: BT.500 cannot count a single vote
    rng = np.random.default_rng(0)
    rows = [f"r{k % 20},{s},quality,{int(rng.integers(1, 6))}" for s in range(200) for k in range(s, s + 4)]
    out = tmp_path / "o"

    status, err = _main(
        capsys, "--input", str(_csv(tmp_path, HEADER + "\n".join(rows) + "\n")), "--output-dir", str(out)
    )

    assert status == 0
    assert any("BT.500 rater screening cannot work here" in line and "'mle'" in line for line in err)
    check = json.loads((out / "analysis.json").read_text())["perspectives"][0]["screening_check"]
    assert check["possible"] is False
    assert check["suggested_method"] == "mle"
    assert check["ratings_per_stimulus"]["median"] == 4
