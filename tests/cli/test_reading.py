"""cli_prediction: `digitrec predict` as a user runs it: random test, images, JSON, CSV, numbers, bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.support.helpers import draw_digit, run_cli


def test_cli_random_mode(good_run, tmp_path):
    grid = tmp_path / "grid.png"
    proc = run_cli("predict", "--model", str(good_run.run_dir), "--random", "12", "--seed", "3", "--grid", str(grid))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 13 and lines[-1].startswith("accuracy ") and "true" in lines[0] and "predicted" in lines[0]
    assert grid.read_bytes()[:4] == b"\x89PNG"
    again = run_cli(
        "predict",
        "--model",
        str(good_run.run_dir),
        "--random",
        "12",
        "--seed",
        "3",
        "--json",
        "--grid",
        str(tmp_path / "g2.png"),
    )
    result = json.loads(again.stdout)
    assert result["count"] == 12 and [p["index"] for p in result["predictions"]] == [
        int(line.split()[1].lstrip("#")) for line in lines[:-1]
    ]


def test_many_random_images_keep_a_readable_grid_and_all_answers_in_the_csv(good_run, tmp_path):
    """The grid draws the first 100 and says so; every answer is in --csv and --json."""
    from PIL import Image

    grid, table = tmp_path / "grid.png", tmp_path / "answers.csv"
    args = ["predict", "--model", str(good_run.run_dir), "--random", "150", "--seed", "4", "--grid", str(grid)]
    proc = run_cli(*args, "--csv", str(table))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].endswith(f"grid: {grid} (the first 100)")
    rows = list(csv.reader(table.open()))
    assert rows[0][:4] == ["index", "true", "digit", "confidence"] and len(rows) == 151
    assert len({r[0] for r in rows[1:]}) == 150 and all(0 <= int(r[1]) <= 9 for r in rows[1:])
    with Image.open(grid) as drawn:  # ten columns of ten rows, not fifteen
        assert drawn.height < 1.3 * drawn.width
    result = json.loads(run_cli(*args, "--json").stdout)
    assert result["count"] == 150 and result["grid_images"] == 100 and len(result["predictions"]) == 150


def test_cli_images_json_csv_and_preprocessed(good_run, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    draw_digit("1", size=(200, 260)).save(folder / "one.png")
    draw_digit("7").convert("RGB").save(folder / "seven.jpg")
    (folder / "text.png").write_text("hello")
    buf = io.BytesIO()
    draw_digit("0").save(buf, format="PNG")
    (folder / "cut.png").write_bytes(buf.getvalue()[:200])
    out_csv, pre_dir = tmp_path / "answers.csv", tmp_path / "seen"
    steps_dir = tmp_path / "steps"
    proc = run_cli(
        "predict",
        "--model",
        str(good_run.run_dir),
        str(folder),
        "--json",
        "--csv",
        str(out_csv),
        "--save-preprocessed",
        str(pre_dir),
        "--show-steps",
        str(steps_dir),
    )
    assert proc.returncode == 1  # two inputs could not be read; the others are still answered
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("digitrec: error:")]
    assert len(errors) == 2 and any("text.png" in e for e in errors) and any("cut.png" in e for e in errors)
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    answered = {Path(o["file"]).name: o for o in objects if "error" not in o}
    assert set(answered) == {"one.png", "seven.jpg"} and answered["one.png"]["digit"] == 1
    assert answered["seven.jpg"]["digit"] == 7 and len(answered["seven.jpg"]["probabilities"]) == 10
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 4 and {r["file"].rsplit("/", 1)[-1] for r in rows if r["error"]} == {"text.png", "cut.png"}
    assert {r["file"].rsplit("/", 1)[-1]: r["digit"] for r in rows if not r["error"]} == {
        "one.png": "1",
        "seven.jpg": "7",
    }
    saved = sorted(p.name for p in pre_dir.iterdir())
    assert saved == ["one.png", "seven.png"]
    assert Image.open(pre_dir / "one.png").size == (28, 28)
    assert sorted(p.name for p in steps_dir.iterdir()) == ["one-steps.png", "seven-steps.png"]


def test_cli_number_mode(tmp_path):
    row = Image.new("L", (700, 260), 235)
    for k, d in enumerate("170"):
        row.paste(draw_digit(d, size=(200, 240)), (20 + 215 * k, 10))
    row.save(tmp_path / "number.png")
    from digitrec.store import PRETRAINED

    proc = run_cli("predict", "--model", str(PRETRAINED.parent), "--number", "--json", str(tmp_path / "number.png"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # Each digit is read, and so the number whole.
    assert [int(np.argmax(d["probabilities"])) for d in result["digits"]] == [1, 7, 0]
    assert result["number"] == "170" and "reason" not in result, result
    assert all(len(d["probabilities"]) == 10 for d in result["digits"])


def test_cli_refuses_bad_input_in_one_line(good_run, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("predict", "--model", str(good_run.run_dir), str(tmp_path / "empty"))
    assert proc.returncode == 1 and "holds no image files" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("predict", "--model", str(good_run.run_dir))
    assert proc.returncode == 2 and "give image files" in proc.stderr
    proc = run_cli("predict", "--model", str(tmp_path / "nope.keras"), "--random", "3")
    assert proc.returncode == 1 and "no model at" in proc.stderr


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=3000),
            st.tuples(
                st.integers(1, 90),
                st.integers(1, 90),
                st.sampled_from(["L", "RGB", "RGBA", "P"]),
                st.sampled_from(["PNG", "GIF", "BMP", "TIFF"]),
                st.integers(0, 2**31),
            ),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_property_cli_never_crashes_on_any_files(good_run, tmp_path_factory, items):
    folder = tmp_path_factory.mktemp("fuzz")
    for k, item in enumerate(items):
        if isinstance(item, bytes):
            (folder / f"{k}.png").write_bytes(item)
        else:
            w, h, mode, fmt, seed = item
            pixels = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
            Image.fromarray(pixels).convert(mode).save(folder / f"{k}.{fmt.lower()}", format=fmt)
    proc = run_cli("predict", "--model", str(good_run.run_dir), "--json", str(folder))
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(objects) == len(items)
    for o in objects:
        assert "error" in o or (len(o["probabilities"]) == 10 and (o["digit"] is None) == ("reason" in o))


def test_the_shipped_model_says_a_letter_is_not_a_digit_alone_and_inside_a_number(tmp_path):
    from digitrec.store import PRETRAINED
    from tests.support.xdriver import PEOPLE_DIGITS, PEOPLE_MARKS, drawn

    drawn(PEOPLE_MARKS["H"]).save(tmp_path / "H.png")
    proc = run_cli("predict", "--model", str(PRETRAINED.parent), "--json", str(tmp_path / "H.png"))
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["digit"] is None and answer["no_digit"] == "not a digit" and answer["not_digit_score"] > 0.5
    guess = answer["best_guess"]  # the model's doubt keeps its best guess, in --json and in words
    assert guess == int(np.argmax(answer["probabilities"]))
    proc = run_cli("predict", "--model", str(PRETRAINED.parent), str(tmp_path / "H.png"))
    said = f"{tmp_path / 'H.png'}: no digit, probably a {guess} ({answer['confidence']:.0%}) (not a digit: best guess"
    assert proc.returncode == 0 and proc.stdout.startswith(said), proc.stdout
    row = Image.new("L", (840, 280), 255)
    for k, strokes in enumerate((PEOPLE_DIGITS["1"], PEOPLE_MARKS["H"], PEOPLE_DIGITS["7"])):
        row.paste(drawn(strokes), (280 * k, 0))
    row.save(tmp_path / "1H7.png")
    proc = run_cli("predict", "--model", str(PRETRAINED.parent), "--number", str(tmp_path / "1H7.png"))
    assert proc.returncode == 0, proc.stderr
    assert "digit 2 of 3 is not a digit" in proc.stdout, proc.stdout


def test_predict_on_several_processes_gives_the_same_answers_in_the_same_order(good_run, tmp_path):
    from digitrec.reading.parallel import PARALLEL_FROM

    folder = tmp_path / "many"
    folder.mkdir()
    digits = "1704" * 10
    for k, d in enumerate(digits):  # enough files for the processes to be used
        draw_digit(d, size=(120 + 3 * k, 160)).save(folder / f"{k:02d}-{d}.png")
    (folder / "99-broken.png").write_bytes(b"not an image")
    assert len(digits) >= PARALLEL_FROM
    runs = [
        run_cli("predict", "--model", str(good_run.run_dir), "--json", "--jobs", jobs, str(folder)) for jobs in "12"
    ]
    assert [r.returncode for r in runs] == [1, 1]  # the broken file, said once in each
    said = f"digitrec: reading {len(digits) + 1} images in 2 processes"
    assert said not in runs[0].stderr and said in runs[1].stderr
    one, two = ([json.loads(line) for line in r.stdout.splitlines()] for r in runs)
    assert one == two and [Path(o["file"]).name for o in two] == sorted(p.name for p in folder.iterdir())
    assert "error" in two[-1] and all(len(o["probabilities"]) == 10 for o in two[:-1])
