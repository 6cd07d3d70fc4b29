"""The benchmarks' own command lines: a missing tool is a one-line error, not a traceback; every
result names the machine that measured it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks import mutation, newcomer
from benchmarks.machine import machine


def test_the_mutation_benchmark_refuses_a_file_name_for_its_result_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["mutation", "--only", "pool", "--out", str(tmp_path / "pool.json")])
    assert mutation.main() == 2 and not (tmp_path / "pool.json").exists()
    assert capsys.readouterr().err == (
        f"benchmarks.mutation: --out {tmp_path / 'pool.json'} names a file; give the folder (the result's name is "
        "mutation[-MODULE…].json)\n"
    )


def test_the_mutation_benchmark_without_cosmic_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # a venv without cosmic-ray
    monkeypatch.setattr(sys, "argv", ["mutation", "--only", "rules"])
    assert mutation.main() == 2
    assert capsys.readouterr().err == "benchmarks.mutation: cosmic-ray is not installed: run `make bench-mutation`\n"


def _session(path, results) -> None:
    """A session file as cosmic-ray leaves it, with the columns the benchmark reads."""
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE mutation_specs (job_id TEXT, operator_name TEXT, occurrence INT, start_pos_row INT)")
    db.execute("CREATE TABLE work_results (job_id TEXT, worker_outcome TEXT, test_outcome TEXT, diff TEXT)")
    for i, (operator, outcome, removed, added) in enumerate(results):
        diff = f"--- a\n+++ b\n@@ -1 +1 @@\n-{removed}\n+{added}\n"
        db.execute("INSERT INTO mutation_specs VALUES (?, ?, 0, ?)", (str(i), operator, i + 1))
        db.execute("INSERT INTO work_results VALUES (?, 'NORMAL', ?, ?)", (str(i), outcome, diff))
    db.commit()
    db.close()


def test_a_kept_run_is_scored_again_with_todays_equivalent_mutants(tmp_path, monkeypatch, capsys):
    _session(tmp_path / "ink.sqlite", [
        ("core/NumberReplacer", "KILLED", "along = 0", "along = 2"),
        ("core/NumberReplacer", "SURVIVED", "along = 0", "along = 1"),  # listed as equivalent
        ("core/NumberReplacer", "SURVIVED", "STROKE_RIM = 2", "STROKE_RIM = 3"),
    ])  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["mutation", "--only", "ink", "--rescore", str(tmp_path), "--out", str(tmp_path)])
    assert mutation.main() == 0
    assert capsys.readouterr().out.splitlines()[-1] == "mutation score: 50 % (1 of 2 mutants killed)"
    result = json.loads((tmp_path / "mutation-ink.json").read_text())  # one module's run: the whole run's file stays
    assert [r["line"] for r in result["survivors"]] == [3] and [r["line"] for r in result["equivalent"]] == [2]
    assert result["machine"]["cpu"] and result["machine"]["cpus"] >= 1
    assert not (tmp_path / "mutation.json").exists()
    monkeypatch.setattr(sys, "argv", ["mutation", "--only", "rules", "--rescore", str(tmp_path)])
    assert mutation.main() == 2
    assert capsys.readouterr().err == f"benchmarks.mutation: {tmp_path} holds no session of rules\n"


def test_the_realistic_sets_bold_digits_say_when_the_marker_closed_their_loops():
    """An 8 widened a little keeps its two loops; widened as far as the set widens (0.11 of its
    height on each side) its small loops fill. The set says which (the benchmark reports the two apart)."""
    import numpy as np

    from digitrec.reading.shape import count_holes
    from tests.support import realistic

    eight = np.zeros((28, 28), np.uint8)
    for top in (4, 14):  # two rings, 10 px tall, 3 px strokes: an 8 of loops about 4 px across
        eight[top : top + 10, 9:19] = 255
        eight[top + 3 : top + 7, 12:16] = 0

    assert not realistic.bold_mask(eight, 150, 0.02)[1]
    mask, closed = realistic.bold_mask(eight, 150, 0.11)
    assert closed and count_holes(mask > 0.5) == 0


def test_a_result_names_the_cpu_the_cores_and_the_benchmarks_own_figures():
    record = machine(native_bfloat16=False)
    assert record["cpu"] and record["cpu"] != "?" and 1 <= record["cpus"]
    assert record["python"].count(".") == 2 and record["platform"]
    assert record["native_bfloat16"] is False


def test_every_benchmark_that_writes_a_result_records_its_machine():
    folder = Path(__file__).resolve().parent.parent / "benchmarks"
    writers = [p for p in folder.glob("*.py") if "results" in p.read_text() and p.stem not in ("__init__", "summary")]
    assert len(writers) >= 20
    assert [p.name for p in writers if "machine(" not in p.read_text()] == []


def test_the_newcomers_realistic_figures_come_from_a_seed_no_choice_used(tmp_path, monkeypatch):
    commands = []

    def run(command, **kwargs):
        commands.append(command)
        summary = {"mnist_photos_accuracy": 0.99, "fonts_accuracy": 0.98, "numbers_exact": 0.97}
        summary |= {"digits_answered_no_digit": 0.01, "non_digits_answered_no_digit": 0.93}
        (tmp_path / "realistic.json").write_text(json.dumps({"summary": summary}))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(newcomer.subprocess, "run", run)
    figures = newcomer.realistic(["--model", "RUN"], tmp_path)
    assert commands[0][commands[0].index("--seed") + 1] == "1" and figures["realistic_seed"] == 1
    assert figures["photos_accuracy"] == 0.99


def test_the_realistic_set_names_the_held_out_fonts_a_machine_lacks(monkeypatch, tmp_path):
    from tests.support import realistic

    present = tmp_path / "Present.ttf"
    present.write_bytes(b"")
    monkeypatch.setattr(realistic, "HELD_OUT_FONTS", (str(present), str(tmp_path / "Absent.ttf")))
    assert realistic.missing_fonts() == ["Absent.ttf"]


def test_the_newcomers_service_figures_are_medians_of_three_rounds(tmp_path, monkeypatch):
    """One round on a shared machine ranged from 390 to 640 requests/s: the newcomer's figure is
    the median of three, each round's errors counted and the worst round's wrong answers kept."""
    rounds = iter([(600.0, 30.0, 0, 0.0), (390.0, 58.0, 1, 0.01), (640.0, 33.0, 0, 0.0)])

    def run(command, **kwargs):
        rate, p99, errors, wrong = next(rounds)
        level = {"requests_per_s": rate, "p99_ms": p99, "errors": errors, "wrong_share": wrong}
        name = command[command.index("--name") + 1]
        (tmp_path / f"{name}.json").write_text(json.dumps({"workers": 2, "levels": [level]}))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(newcomer.subprocess, "run", run)
    figures = newcomer.the_service(["--model", "RUN"], tmp_path)
    assert (figures["serve_requests_per_s"], figures["serve_p99_ms"]) == (600.0, 33.0)
    assert (figures["serve_errors"], figures["serve_wrong_share"]) == (1, 0.01)
    assert [r["requests_per_s"] for r in figures["serve_rounds"]] == [600.0, 390.0, 640.0]


def test_the_realistic_set_writes_letters_kana_and_symbols_with_a_marker_too():
    """Bold non-digits, the ones a rule that forgives a bold digit's doubt would let in: each
    family in turn, widened like the bold digits, the same images for the same seed."""
    from tests.support import realistic

    font = realistic.fonts()[0]  # the training fonts `make` installs stand in for the held-out ones
    held_out = {"letter": {"K": [font]}, "kana_kanji": {}, "symbol": {"#": [font], "?": [font]}}
    samples = realistic.bold_non_digit_samples(5, 3, held_out)
    assert [s.kind for s in samples] == [realistic.BOLD_NON_DIGIT] * 5 and {s.label for s in samples} == {""}
    assert [s.glyph[0] for s in samples[::2]] == ["K", "K", "K"] and {s.glyph[0] for s in samples[1::2]} <= {"#", "?"}
    again = realistic.bold_non_digit_samples(5, 3, held_out)
    assert [s.encoded for s in again] == [s.encoded for s in samples]
    assert realistic.bold_non_digit_samples(5, 4, held_out)[0].encoded != samples[0].encoded
    assert realistic.bold_non_digit_samples(5, 3, {"letter": {}}) == []


def test_the_load_generator_sends_exactly_its_requests_and_counts_what_came_back():
    """`web_load.run_level` against a stand-in server on loopback that answers a 7 every time,
    a 503 to every fifth request, closes the connection without answering every seventh and
    asks to close it after every eleventh: each request counted once, each failure by its kind."""
    import socketserver
    import threading

    from benchmarks.web_load import run_level

    seen, connections, lock = [0], [0], threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            with lock:
                connections[0] += 1
            while self.rfile.readline():  # a request line
                length = 0
                while (line := self.rfile.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.rfile.read(length)
                with lock:
                    seen[0] += 1
                    n = seen[0]
                if n % 7 == 0:
                    return  # closed, unanswered
                status, body = (503, b'{"detail":"busy"}') if n % 5 == 0 else (200, b'{"digit":7,"probabilities":[]}')
                close = b"Connection: close\r\n" if n % 11 == 0 else b""
                self.wfile.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), close, body))
                if close:
                    return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uploads = [(b"x" * 100, "image/png", 7), (b"y" * 50, "image/jpeg", 1)]  # the second's answer is wrong
        level = run_level(server.server_address[1], uploads, 4, 154, 60)
    finally:
        server.shutdown()
        server.server_close()
    unanswered, busy = 154 // 7, len([n for n in range(1, 155) if n % 5 == 0 and n % 7])
    assert level["requests"] == seen[0] == 154 and level["clients"] == 4
    assert level["errors"] == unanswered + busy
    assert level["error_kinds"] == ["HTTP 503", "IncompleteReadError"]
    answered_7 = [n for n in range(1, 155) if n % 5 and n % 7]
    assert 0 < level["wrong_answers"] < len(answered_7)  # the 1s were answered 7: wrong; the 7s right
    closed = unanswered + len([n for n in range(1, 155) if n % 11 == 0 and n % 7])
    assert closed <= connections[0] <= 4 + closed  # 4 to start, a fresh one after each close but a client's last
