"""Mutation score of the reading path's decision rules, preprocessing, ink finding and numbers'
segmentation, and of the service's worker pool and its hot routes: does the test suite fail when
the code is wrong? (`make bench-mutation`)

    python -m benchmarks.mutation [--only rules preprocess ink segment pool lean] [--jobs N] [--keep DIR]
    python -m benchmarks.mutation --rescore DIR [--only …]   # a kept run, scored again

cosmic-ray (the `[mutation]` extra) changes one thing at a time in a module (a comparison turned
around, a number moved by one, an operator swapped, a condition negated) and runs that module's
fast tests against each change; a change the tests do not notice "survives". The work happens in
copies of the repository, one per process testing mutants (`--jobs`, one per core), each imported
first through PYTHONPATH, so the working tree is never touched, even when the run is killed. A
mutant whose tests run past 5 times an unmutated run (10 s at least) counts as killed: it hangs.

Binary operators are swapped only for their counterpart (+ and -, * and /, | and &, …), as
mutmut does, not for every other operator: the other swaps of the same spot are killed by the
same assertions and would triple the run. Mutants that cannot change behaviour are listed in
EQUIVALENT with the reason, and left out of the score.

Writes benchmarks/results/mutation.json (the lines each survivor and equivalent mutant changes;
a run of some modules, `mutation-MODULE[-MODULE…].json`, so it never overwrites the whole run's)
and prints, last, `mutation score: N % (K of M mutants killed)`. `--rescore` scores the sessions
a run kept (`--keep`) again with today's EQUIVALENT list, without running any mutant.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from benchmarks.machine import machine

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent

# module -> its fast tests (no trained run needed; each run of them takes seconds).
TARGETS = {
    "rules": ("src/digitrec/reading/rules.py", "tests/reading/test_rules.py"),
    "preprocess": ("src/digitrec/reading/preprocess.py", "tests/reading/test_fit.py tests/reading/test_preprocess.py"),
    # Finding the ink: polarity, the paper's shading, the ink's pieces and which of them are the digit.
    "ink": (
        "src/digitrec/reading/ink.py",
        "tests/reading/test_ink.py tests/reading/test_fit.py tests/reading/test_preprocess.py",
    ),
    # Numbers: a row of ink cut into candidate digits.
    "segment": ("src/digitrec/reading/segment.py", "tests/reading/test_segment.py"),
    # The service's worker pool, with in-process stand-ins for its processes (each run: 2 s).
    "pool": ("src/digitrec/web/pool.py", "tests/web/test_pool_logic.py"),
    # The service's hot routes before the framework, with a stand-in job and app (each run: 2 s).
    "lean": ("src/digitrec/web/lean.py", "tests/web/test_lean.py"),
}
COUNTERPARTS = ("Add_Sub", "Sub_Add", "Mul_Div", "Div_Mul", "FloorDiv_Div", "Mod_FloorDiv", "Pow_Mul",
                "BitOr_BitAnd", "BitAnd_BitOr", "BitXor_BitOr", "LShift_RShift", "RShift_LShift")  # fmt: skip
EXCLUDED_OPERATORS = [rf"core/ReplaceBinaryOperator_(?!(?:{'|'.join(COUNTERPARTS)})$)"]

# (module, operator prefix, regular expression on the line the mutant removes [" => " and one on the
# line it adds]): why it cannot change what the module does.
EQUIVALENT = [
    ("lean", "core/ReplaceBinaryOperator_BitOr", r"^(async )?def .*\) -> ",
     "a return annotation, never evaluated (`from __future__ import annotations`)"),
    ("lean", "core/ReplaceComparisonOperator_Eq_LtE", r'^if message\["type"\] == "http\.disconnect":',
     "a request's messages are `http.request` and `http.disconnect`: only the second sorts at or below it"),
    ("lean", "core/ReplaceComparisonOperator_Eq_",
     r'if scope\["type"\] == "http" and .* => if scope\["type"\] (<=|is) "http"',
     "scopes are `http`, `websocket` and `lifespan`: only `http` sorts at or below `http`, and the ASGI "
     "servers write it as a literal, the same interned string"),
    ("lean", "core/NumberReplacer", r'else \("one", \*files\[0\], False\)',
     "/predict's form holds exactly one file (form_files's limit there is 1): [0] and [-1] are the same"),
    ("rules", "core/ReplaceComparisonOperator_Eq_LtE", r"and pre\.pieces == 1$",
     "ink over 40 % of the picture is in one piece at least: `pieces` is never 0 there"),
    ("rules", "core/ReplaceBinaryOperator_BitOr", r"^def .*-> NoDigit \| None:",
     "a return annotation, never evaluated (`from __future__ import annotations`)"),
    ("rules", "core/RemoveDecorator", r"^@property$",
     "a member of the InkMeasures Protocol, which only type checkers read"),
    ("rules", "core/NumberReplacer", r"confidence: float = 0\.0\) => confidence: float = -1\.0\)",
     "a confidence is a probability, never negative: any default below SURE judges the same, not sure"),
    ("rules", "core/ReplaceComparisonOperator_Eq_LtE", r"if pre\.ink_fraction == 0\.0 or",
     "ink_fraction is a share of pixels: it is never below 0"),
    ("preprocess", "core/ReplaceBinaryOperator_BitOr", r"^\) -> np\.ndarray \| Preprocessed:",
     "a return annotation, never evaluated (`from __future__ import annotations`)"),
    ("preprocess", "core/RemoveDecorator", r"^@overload$", "an overload only type checkers read"),
    ("preprocess", "core/ReplaceBinaryOperator_BitOr", r"^def .*: np\.ndarray \| None|^mask: .*: np\.ndarray \| None$",
     "a parameter's annotation, never evaluated (`from __future__ import annotations`)"),
    ("preprocess", "core/ReplaceComparisonOperator_Gt_NotEq", r"other = \(ink\.pieces\.labels > 0\)",
     "labels are never negative: `> 0` and `!= 0` pick the same pixels"),
    ("preprocess", "core/ReplaceComparisonOperator_Gt_",
     r"if ink\.pieces\.count > pieces else None => ink\.pieces\.count (>=|is not) pieces",
     "the image has never fewer pieces than the digit; `other` made when it is empty changes nothing"),
    ("preprocess", "core/Replace", r"return_steps: Literal\[", "an overload's signature, only type checkers read it"),
    ("preprocess", "core/ReplaceFalseWithTrue", r"^reach\[0\] = False",
     "label 0 is the pixels that are not faint ink, which the faint ink loses nothing by being told to leave"),
    ("preprocess", "core/NumberReplacer", r"^(pieces|holes): int = ",
     "defaults only segment's digits of a number take, which no ink rule judges (predict_number asks the model)"),
    ("preprocess", "core/", r"^thin = scale < 1\.0 and rough_stroke_width => thin = scale (!= 1\.0|<= 1\.0|< 2\.0) and",
     "a fit that does not shrink (scale 1 or more) thickens nothing, whatever `thin` says: the thickening "
     "asks for scale < 1 itself"),
    ("preprocess", "core/ReplaceComparisonOperator_Lt_", r"^thin = scale < 1\.0 and rough => \* scale (!=|<=) 3\.0$",
     "these differ from `< 3.0` only where the quick estimate times the scale is 3.0 to the last bit"),
    ("preprocess", "core/", r"^if width_after < 2\.0 and scale < 1\.0:",
     "a stroke 2 px or wider, or one not shrunk, rounds `grow` to 0 or less: nothing is thickened either way"),
    ("preprocess", "core/NumberReplacer", r"^if grow >= 1:",
     "grow 0 dilates by a 1x1 disk, which changes nothing"),
    ("preprocess", "core/NumberReplacer", r"^pad = grow \+ 1",
     "any pad of at least `grow` holds the dilation, and the result is cropped to the ink again"),
    ("preprocess", "core/NumberReplacer", r"^small = np\.minimum\(small / max\(float\(small\.max\(\)\), 1e-6\), 1\.0\)",
     "after dividing by its maximum nothing exceeds 1, and the maximum is never negative"),
    ("preprocess", "core/NumberReplacer", r"^top0, left0 = \(MNIST_SIZE - new_h\) // 2",
     "the first placement only starts the shift by the centre of mass, whose bounds are the frame's: "
     "every start ends in the same place"),
    ("preprocess", "core/NumberReplacer", r"^width_after = stroke_width\(crop_mask\) \* scale if thin else 3\.0",
     "any width of 2 px or more for a stroke that is not thin thickens nothing (the same as 3.0)"),
    ("ink", "core/NumberReplacer", r"^cv2\.setNumThreads\(0\)",
     "how many threads OpenCV uses changes its speed, never a value"),
    ("ink", "core/ReplaceBinaryOperator_BitOr", r"^def _flatten_alpha\(gray: np\.ndarray, alpha: np\.ndarray \| None\)",
     "an annotation, never evaluated (`from __future__ import annotations`)"),
    ("ink", "core/ReplaceComparisonOperator_GtE_Gt", r"alpha\.min\(\) >= 0\.999:",
     "alpha is a whole number of 255ths (an 8-bit channel): none is 0.999"),
    ("ink", "core/ReplaceComparisonOperator_Gt_GtE", r"^opaque = alpha > 0\.5$",
     "alpha is a whole number of 255ths (an 8-bit channel): none is 0.5"),
    ("ink", "core/ReplaceComparisonOperator_GtE_Gt", r"^if scale >= 1\.0:",
     "at scale 1 the image is resized to its own size, which Pillow answers with a copy"),
    ("ink", "core/ReplaceComparisonOperator_NotEq_", r"^if background\.shape != ink\.shape:",
     "the thumbnail is nowhere larger than the image, so `<` and `<=` order the shapes as `!=` tells them apart, "
     "and where they are equal a resize to the image's own size is a copy"),
    ("ink", "core/ReplaceComparisonOperator_Eq_LtE", r"^if h == 0 or w == 0:", "sides are never negative"),
    ("ink", "core/NumberReplacer", r"^return float\(a\.mean\(\)\) if a\.size else 0\.0",
     "the ink's image always has a pixel: the value for an empty one is never used"),
    ("ink", "core/ReplaceComparisonOperator_NotEq_Gt", r"^ink = index\[index != 0\]",
     "the index is unsigned: `> 0` is `!= 0`"),
    ("ink", "core/NumberReplacer",
     r"calcHist\(\[ink\], \[0\], None, \[bins \+ 1\], \[0, bins \+ 1\]\) => \[bins \+ 2\], \[0, |\[ ?-1, bins \+ 1\]",
     "the values counted are the whole numbers 1-64: 66 bins over [0, 65) or 65 over [-1, 65) put each in its own bin, "
     "as 65 over [0, 65) do"),
    ("ink", "core/", r"^if total == 0: => if total (== -1|< 0|<= 0):", "total counts every pixel: never below 1"),
    ("ink", "core/NumberReplacer", r"^return 0\.5$", "reached only for an image without pixels, which never comes"),
    ("ink", "core/",
     r"if len\(between\) > 1 else 0\.5$ => if len\(between\) (> 0|>= 1|!= 1|> 2) else 0\.5$|else (1\.5|-0\.5)$",
     "`between` has one value per bin, 64: the other branch never runs"),
    ("ink", "core/", r"^if strokes == 0: => if strokes (== -1|< 0|<= 0):", "a count of pixels is never negative"),
    ("ink", "core/ReplaceComparisonOperator_Eq_LtE", r"^weak = Pieces\.of\(mask & \(near_strokes == 0\)\)",
     "near_strokes is unsigned: `<= 0` is `== 0`"),
    ("ink", "core/ReplaceComparisonOperator_Eq_",
     r"^on_border = \(x == 0\) \| \(y == 0\) => \((x|y) <= 0\)|\+ (bw >= w|bh >= h)\)",
     "a piece's box lies inside the image: it starts at 0 or later and ends at the side or before"),
    ("ink", "core/ReplaceComparisonOperator_", r"^if len\(ids\) < count: => if len\(ids\) (<=|!=|is not) count:",
     "the ids are some of the pieces, never more; selecting them all gives the mask as it is"),
    ("ink", "core/", r"^if count <= 1: => if count (== 1|< 1|<= 0):",
     "with no piece nothing is kept and the mask comes back; with one, its selection is the mask, which holds only "
     "the pieces in ids (find_ink's)"),
    ("ink", "core/ReplaceComparisonOperator_Eq_",
     r"^on_border = rows\.start == 0 or cols\.start == 0 => (rows|cols)\.start <= 0|(rows\.stop >= h|cols\.stop >= w)",
     "a piece's box lies inside the image: it starts at 0 or later and ends at the side or before"),
    ("ink", "core/NumberReplacer", r"3 \* max\(1, min\(bh, bw\)\) => 3 \* max\( ?0, min\(bh, bw\)\)",
     "a box is a pixel or more on each side: max(0, …) is max(1, …)"),
    ("ink", "core/ReplaceFalseWithTrue", r"^edge_like\[:\] = False$",
     "with every piece an edge, or none, no piece is dropped as an edge and the largest stays the digit's"),
    ("ink", "core/", r"^main = int\(np\.argmax\(np\.where\((keep|inner), sizes, -1\)\)\)",
     "every piece here is 4 pixels or more (smaller ones were specks) and some are kept: any fill under 4 picks the "
     "same largest"),
    ("ink", "core/NumberReplacer", r"^along = 0 => along = (1|-1)$",
     "a piece on a side has a pixel there at least, and one on none is 3 pixels long or more: a start of 1 or -1 "
     "answers as 0 does"),
    ("ink", "core/ReplaceComparisonOperator_Eq_", r"^if (rows|cols)\.start == 0: => if (rows|cols)\.start <= 0:",
     "a box never starts before 0"),
    ("ink", "core/ReplaceComparisonOperator_Eq_GtE", r"^if (rows\.stop == h|cols\.stop == w):",
     "a box never ends beyond the image"),
    ("pool", "core/ReplaceBinaryOperator_BitOr", r"-> .*\| None:$|\] \| None = None|: float \| None = JOB_TIMEOUT",
     "an annotation, never evaluated (`from __future__ import annotations`)"),
    ("pool", "core/ReplaceComparisonOperator_Gt_NotEq", r"return self\.usable > 0 and not self\._closed",
     "usable is never negative: the workers being replaced are some of all the workers"),
    ("pool", "core/NumberReplacer", r"header else \(1, 0\)$|^status, body = 1, None$",
     "without a header (or after a failed read) the body is None, which alone refuses the worker, whatever the status"),
    ("pool", "core/ReplaceComparisonOperator_Gt_NotEq", r"first=died \+ hung > 0",
     "counts of failures are never negative"),
    ("pool", "core/ReplaceComparisonOperator_Gt_GtE", r"time\.monotonic\(\) - since > GONE_CHECK_AFTER",
     "a wait of exactly GONE_CHECK_AFTER seconds, to the clock's last digit, does not happen"),
    ("pool", "core/ReplaceComparisonOperator_Lt_LtE", r"time\.monotonic\(\) - worker\.born < CRASH_LOOP_LIFE",
     "a life of exactly CRASH_LOOP_LIFE seconds, to the clock's last digit, does not happen"),
    ("pool", "core/Replace", r"self\.sock\.setblocking\(False\)",
     "asyncio's open_connection makes a socket it is handed non-blocking itself"),
    ("pool", "core/", r"open_connection\(sock=self\.sock, limit=2\*\*20\)",
     "the limit bounds readline's buffer; the pool reads with readexactly, which it does not bound"),
    ("pool", "core/ReplaceComparisonOperator_Eq_LtE", r"self\.usable == 0",
     "while the pool is open, usable is never negative: the workers being replaced are some of all the workers"),
    ("pool", "core/ReplaceComparisonOperator_NotEq_Gt", r"status != READY or body is None => status > READY",
     "the status is an unsigned number from the header (`!IQ`), never below READY (0)"),
    ("pool", "core/ReplaceComparisonOperator_NotEq_IsNot", r"status != READY or body is None",
     "CPython keeps one object per small number: `is not READY` (0) is `!= READY`"),
    ("pool", "core/ReplaceComparisonOperator_Lt_NotEq", r"died < 2 and hung < 2",
     "each count goes up by one from 0 and the loop ends when one reaches 2: below 2 and not 2 are the same"),
    ("pool", "core/ReplaceComparisonOperator_Gt_GtE", r"now - started > self\.job_timeout",
     "a job of exactly job_timeout seconds, to the clock's last digit, does not happen"),
    ("pool", "core/ReplaceTrueWithFalse", r"print\(line, file=sys\.stderr, flush=True\)",
     "stderr is line-buffered (Python 3.9 on) and each line ends with a newline: it is written at once either way"),
    ("pool", "core/ReplaceFalseWithTrue", r"def _replace_soon\(self, worker: _Worker, kill: bool = False\)",
     "without `kill` the worker's socket broke (it died or the watchdog killed it): a process that is exiting "
     "ends the same whether it is also killed or only waited for"),
    ("pool", "core/ReplaceAndWithOr", r"if kill and worker\.process\.poll\(\) is None",
     "without `kill` the worker's socket broke (it died or the watchdog killed it): a process that is exiting "
     "ends the same whether it is also killed or only waited for"),
    ("pool", "core/ReplaceOrWithAnd", r"if self\._closed or not self\._all or => self\._closed and not self\._all or",
     "the pool is closed exactly when it has no workers: close() empties the list at once, and a pool starts "
     "with one at least"),
    ("pool", "core/NumberReplacer", r"self\._crash_pause = 0\.0  # grows => = -1\.0",
     "the first pause after a young death is max(2 x this, BACKOFF[0]): the same for any start at or below "
     "BACKOFF[0] / 2"),
    ("pool", "core/NumberReplacer", r"self\._failed_starts \+= 1 => \+= 2",
     "failed starts are only asked whether there are any, and set back to 0"),
    ("pool", "core/NumberReplacer", r"asyncio\.sleep\(max\(0\.0, pause => max\( -1\.0,",
     "only when moved below 0: asyncio.sleep of a negative time returns at once, as sleep(0) does"),
    ("segment", "core/", r"^pieces = \[part\] if n == 1 else _cut\(part, n\) => if n (< 1|<= 1|== 0) else",
     "n starts at 1, and _cut(part, 1) is the part itself (one piece from its first inked column to its last)"),
    ("segment", "core/NumberReplacer", r"min\(4, max\(2, int\(round\(width / \(0\.55 \* height => max\( 1,",
     "a group at least as wide as tall gives width / (0.55 height) >= 1.8, which rounds to 2 or more"),
    ("segment", "core/ReplaceFalseWithTrue", r"^ink = find_ink\(source, False, max_pixels\)",
     "True only keeps copies of find_ink's intermediate images, which segment never reads"),
    ("segment", "core/ReplaceFalseWithTrue", r"^Pieces\.of\(p, boxes=False\)\.count,",
     "boxes=True counts the same pieces and also measures their boxes"),
    ("segment", "core/", r"^while changed and len\(merged\) > 1: => len\(merged\) (!= 1|>= 1|> 0):",
     "one group holds every piece: as tall as the tallest and with all the ink, it is never a mark to join"),
    ("segment", "core/", r"^if 0 <= j < len\(merged\): => if (0 <= j != len|-1 <= j < len)",
     "j is i - 1 or i + 1, never past len(merged); j = -1 measures the gap to the last group, never nearer than "
     "the next group (sorted left to right) and the same group when they tie"),
    ("segment", "core/", r"^lo, hi = max\(cuts\[-1\] \+ 1, => max\(cuts\[(-1\] (- 1|\+ 0|\+ 2)|- 0\]|not 1\])",
     "the last cut lies at most a sixth of a share past its even cut, so the next window starts two thirds of "
     "a share past it: this bound never binds (groups of 6 columns a digit or more)"),
    ("segment", "core/", r"^lo, hi = .*, min\(x1 - 1, guess => min\(x1 (\+ 1|- 0|- 2), guess",
     "the last window ends two thirds of a share before the group's right edge: this bound never binds"),
    ("segment", "core/", r"if hi >= lo else guess\)$ => if hi (!=|>|is not) lo else",
     "the window is two thirds of a share wide: hi is never at or below lo (groups of 3 columns a digit or more)"),
    ("segment", "core/NumberReplacer", r"/ max\(1, rows\[-1\] - rows\[0\] \+ 1\)\) => max\( 0,",
     "the ink's height counts its rows: 1 at least"),
]  # fmt: skip


def run(*args: str, cwd: Path, env: dict) -> None:
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def copy_repo(into: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in ("src", "tests", "docs"):
        shutil.copytree(ROOT / name, into / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, into / name)


def changed_line(diff: str | None, sign: str = "-") -> str:
    """The source line a mutant changed, as its diff removes it ("-") or adds it ("+")."""
    lines = (d[1:].strip() for d in (diff or "").splitlines() if d[:1] == sign and d[:3] != sign * 3)
    lines = (line for line in lines if line)
    return next(lines, "")


def changes(diff: str | None) -> str | None:
    """A mutant's diff without its context lines: the file names, the hunk and the lines it changed."""
    return "\n".join(d for d in diff.splitlines() if d[:1] in "-+@") + "\n" if diff else diff


def equivalent(name: str, operator: str, diff: str | None) -> str | None:
    """Why this mutant cannot change behaviour (EQUIVALENT), or None. A pattern "A => B" asks
    for A in the line removed and B in the line added."""
    for module, prefix, pattern, reason in EQUIVALENT:
        removed, _, added = pattern.partition(" => ")
        if (module == name and operator.startswith(prefix) and re.search(removed, changed_line(diff))
                and re.search(added, changed_line(diff, "+"))):  # fmt: skip
            return reason
    return None


def _start_worker(copies: multiprocessing.Queue[str]) -> None:
    """A worker process takes one copy of the repository for its own: mutants change files there."""
    copy = Path(copies.get())
    os.chdir(copy)
    os.environ.update(PYTHONPATH=f"{copy / 'src'}{os.pathsep}{copy}", CI="true")


def _mutate_and_test(item, test_command: str, timeout: float):
    from cosmic_ray.mutating import mutate_and_test

    return item.job_id, mutate_and_test(mutations=item.mutations, test_command=test_command, timeout=timeout)


def baseline(tests: str, copy: Path, env: dict) -> float:
    """Seconds the unmutated tests take; they must pass, or no mutant would survive anyway."""
    t0 = time.perf_counter()
    done = subprocess.run(test_command(tests).split(), cwd=copy, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"mutation: the tests fail before any mutation ({tests}):\n{done.stdout[-2000:]}")
    return time.perf_counter() - t0


def test_command(tests: str) -> str:
    return f"{sys.executable} -m pytest -x -q -p no:cacheprovider {tests}"


def execute(session: Path, copies: list[Path], tests: str, timeout: float) -> None:
    """Every pending mutant, on as many processes as copies, each mutating only its own copy."""
    from cosmic_ray.work_db import WorkDB, use_db

    queue: multiprocessing.Queue[str] = multiprocessing.Queue()
    for copy in copies:
        queue.put(str(copy))
    with use_db(str(session), WorkDB.Mode.open) as db:
        items = list(db.pending_work_items)
        with ProcessPoolExecutor(len(copies), initializer=_start_worker, initargs=(queue,)) as pool:
            command = test_command(tests)
            jobs = [pool.submit(_mutate_and_test, item, command, timeout) for item in items]
            for job in as_completed(jobs):
                db.set_result(*job.result())


def mutate(name: str, copies: list[Path], env: dict, timeout: float | None) -> list[dict]:
    """Run cosmic-ray on one target; one record per mutant."""
    module, tests = TARGETS[name]
    work = copies[0].parent
    took = baseline(tests, copies[0], env)
    timeout = timeout or round(max(10.0, 5 * took))
    config = work / f"{name}.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module}"\n'
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{test_command(tests)}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n"
    )
    session = work / f"{name}.sqlite"
    bin_dir = Path(sys.executable).parent
    run(str(bin_dir / "cosmic-ray"), "init", str(config), str(session), cwd=copies[0], env=env)
    run(str(bin_dir / "cr-filter-operators"), str(session), str(config), cwd=copies[0], env=env)
    execute(session, copies, tests, timeout)
    return scored_records(name, session)


def scored_records(name: str, session: Path) -> list[dict]:
    """One record per mutant of a finished session: killed, or equivalent (EQUIVALENT) and why."""
    db = sqlite3.connect(session)
    rows = db.execute(
        "SELECT s.operator_name, s.occurrence, s.start_pos_row, r.worker_outcome, r.test_outcome, r.diff "
        "FROM mutation_specs s JOIN work_results r ON s.job_id = r.job_id"
    ).fetchall()
    db.close()
    records = []
    for operator, occurrence, line, worker, test, diff in rows:
        worker, test = (worker or "").lower(), (test or "").lower()  # stored as the enums' names
        if worker == "skipped":
            continue
        # A crash, or a hang past the timeout ("incompetent"), is noticed too.
        killed = test in ("killed", "incompetent") or worker in ("exception", "abnormal")
        why = None if killed else equivalent(name, operator, diff)  # a mutant the tests notice is not equivalent
        diff = None if killed else changes(diff)
        records.append({"module": name, "operator": operator, "occurrence": occurrence, "line": line,
                        "killed": killed, "equivalent": why, "diff": diff})  # fmt: skip
    return records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(TARGETS), help="just these modules")
    parser.add_argument("--timeout", type=float, help="seconds per mutant (default: 5x an unmutated run, 10 s or more)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants at once (default: one per core)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument(
        "--out", type=Path, default=HERE / "results", help="the folder the result goes into (mutation[-MODULE…].json)"
    )
    parser.add_argument(
        "--rescore", type=Path, metavar="KEPT", help="score the sessions a run kept (--keep) again, running none"
    )
    args = parser.parse_args()
    if args.out.suffix == ".json":
        print(f"benchmarks.mutation: --out {args.out} names a file; give the folder (the result's name is "
              "mutation[-MODULE…].json)", file=sys.stderr)  # fmt: skip
        return 2
    if args.rescore:
        return rescore(args.rescore, args.only or list(TARGETS), args.out)
    if not (Path(sys.executable).parent / "cosmic-ray").is_file():
        print("benchmarks.mutation: cosmic-ray is not installed: run `make bench-mutation`", file=sys.stderr)
        return 2
    names = args.only or list(TARGETS)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="digitrec-mutation-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        copies = [work / f"copy{i}" for i in range(max(1, args.jobs))]
        for copy in copies:
            copy_repo(copy)
        # CI's settings: the property tests draw the same examples every run, so a mutant is killed
        # or survives the same way each time.
        env = {**os.environ, "PYTHONPATH": f"{copies[0] / 'src'}{os.pathsep}{copies[0]}", "CI": "true"}
        records = []
        for name in names:
            t0 = time.perf_counter()
            found = mutate(name, copies, env, args.timeout)
            records += found
            scored = [r for r in found if not r["equivalent"]]
            killed = sum(r["killed"] for r in scored)
            print(f"{name}: {killed} of {len(scored)} killed ({len(found) - len(scored)} equivalent) "
                  f"in {time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    return write_result(records, names, time.perf_counter() - started, args.out)


def rescore(kept: Path, names: list[str], out: Path) -> int:
    """The kept sessions' mutants scored with today's EQUIVALENT list (no mutant is run again)."""
    missing = [name for name in names if not (kept / f"{name}.sqlite").is_file()]
    if missing:
        print(f"benchmarks.mutation: {kept} holds no session of {', '.join(missing)}", file=sys.stderr)
        return 2
    return write_result([r for name in names for r in scored_records(name, kept / f"{name}.sqlite")], names, 0.0, out)


def write_result(records: list[dict], names: list[str], seconds: float, out: Path) -> int:
    scored = [r for r in records if not r["equivalent"]]
    killed = sum(r["killed"] for r in scored)
    score = killed / max(1, len(scored))
    result = {
        "benchmark": "mutation",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.mutation", *sys.argv[1:]]),
        "machine": machine(),
        "modules": {n: TARGETS[n] for n in names},
        "seconds": round(seconds, 1),
        "score": round(score, 4),
        "killed": killed,
        "scored": len(scored),
        "equivalent": [r for r in records if r["equivalent"]],
        "survivors": [r for r in scored if not r["killed"]],
    }
    out.mkdir(parents=True, exist_ok=True)
    whole = sorted(names) == sorted(TARGETS)
    (out / ("mutation.json" if whole else f"mutation-{'-'.join(names)}.json")).write_text(
        json.dumps(result, indent=2) + "\n"
    )
    for r in result["survivors"]:
        print(f"survived: {r['module']} line {r['line']} {r['operator']}", flush=True)
    print(f"mutation score: {100 * score:.0f} % ({killed} of {len(scored)} mutants killed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
