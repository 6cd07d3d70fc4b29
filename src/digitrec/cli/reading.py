"""The answering side of the command line: `digitrec predict`, `gui` and `serve`. Each parses
nothing (`cli` does), calls the library and prints."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from digitrec.cli.output import GRID_MOST, print_json, save_png, say_default_model, unique_path


def _predict_random(args: argparse.Namespace, predictor, test_set) -> int:
    from digitrec import plots
    from digitrec.cli.batch import random_test

    test = random_test(predictor, args.random, args.seed, test_set)
    if not args.json:
        for i, t, a in zip(test.index, test.truth, test.answers):
            mark = "" if a.best_guess == t else "   <- wrong"
            print(f"test #{i:<5d}  true {t}  predicted {a.best_guess}  ({a.confidence:.1%}){mark}")
    run = predictor.choice.run_dir
    in_run = run is not None and not predictor.choice.shipped  # never inside the package
    grid = Path(args.grid) if args.grid else (run / "random_test.png" if in_run else Path("random_test.png"))
    shown = test.answers[:GRID_MOST]
    plots.plot_predictions(
        test.images[:GRID_MOST],
        test.truth[:GRID_MOST],
        [a.best_guess for a in shown],
        [a.confidence for a in shown],
        grid,
        total=len(test.answers),
    )
    if args.csv:
        _write_rows(args.csv, test.table())
    count = len(test.answers)
    if args.json:
        print_json({"model": predictor.name, "accuracy": test.accuracy, "correct": test.correct, "count": count,
                    "grid": str(grid), "grid_images": len(shown), "predictions": test.records()})  # fmt: skip
    else:
        drawn = f" (the first {len(shown)})" if len(shown) < count else ""
        print(f"accuracy {test.correct}/{count} = {test.accuracy:.1%}   grid: {grid}{drawn}")
    return 0


def _predict_text(result) -> str:
    from digitrec.reading.answers import Failure, NumberPrediction

    if isinstance(result, Failure):
        return f"{result.file}: error: {result.error}"
    if isinstance(result, NumberPrediction):
        if result.number is None:
            return f"{result.file}: no number ({result.reason})"
        conf = min(d.confidence for d in result.digits)
        return f"{result.file}: {result.number}  (least sure digit {conf:.1%})"
    if result.digit is None:
        guess = result.guess_words()
        return f"{result.file}: no digit{', ' + guess if guess else ''} ({result.reason})"
    top = ", ".join(f"{d} {p:.1%}" for d, p in result.top_k(3))
    return f"{result.file}: {result.digit}  ({result.confidence:.1%}; top {top})"


def _show_steps(result, folder: Path, used: set[str]) -> None:
    """A chart of what preprocessing did to one input, and the ten probabilities."""
    from digitrec import plots
    from digitrec.reading.images import load_image

    answer = f"{result.digit} ({result.confidence:.0%})" if result.digit is not None else "no digit"
    original = load_image(result.file).convert("RGB")
    original.thumbnail((512, 512))
    plots.plot_preprocessing(
        original,
        result.steps,
        result.probabilities,
        answer,
        unique_path(folder, Path(result.file).stem + "-steps", used),
    )


def cmd_predict(args: argparse.Namespace) -> int:
    from digitrec.cli.batch import expand_inputs, load_test_set
    from digitrec.reading.alloc import for_many_images
    from digitrec.reading.answers import Failure, NumberPrediction, Prediction
    from digitrec.reading.predictor import Predictor

    files, problems = expand_inputs(args.inputs) if args.inputs else ([], [])
    for problem in problems if args.json else ():
        print(json.dumps(problem.to_dict()), flush=True)
    if args.inputs and not _report_problems(problems, bool(files)):
        if args.csv:
            _write_csv(args.csv, list(problems), args.number)
        return 1  # nothing to read: no model loaded
    test_set = load_test_set(args.dataset or "mnist", args.random) if args.random else None
    for_many_images()
    from digitrec.reading import parallel

    if (processes := parallel.processes_for(len(files), args.jobs)) > 1:
        os.environ.setdefault("DIGITREC_LITERT_THREADS", "1")  # this process is one of the readers
    predictor = Predictor(args.model, min_confidence=args.min_confidence, runs_root=args.runs_root)
    say_default_model(predictor.choice)
    if args.random:
        return _predict_random(args, predictor, test_set)
    used: dict[str, set[str]] = {"preprocessed": set(), "steps": set()}
    results: list[Prediction | NumberPrediction | Failure] = list(problems)
    if processes > 1:
        print(f"digitrec: reading {len(files)} images in {processes} processes", file=sys.stderr)
    answers = parallel.predict_files(predictor, files, args.jobs, number=args.number, steps=bool(args.show_steps))
    for result in answers:
        results.append(result)
        if isinstance(result, Failure):
            print(f"digitrec: error: {result.error}", file=sys.stderr)
        else:
            _save_pictures(args, result, used)
        if args.json:
            print(json.dumps(result.to_dict()), flush=True)
        elif not isinstance(result, Failure):
            print(_predict_text(result), flush=True)
    if args.csv:
        _write_csv(args.csv, results, args.number)
    failed = sum(isinstance(r, Failure) for r in results)
    if failed and len(results) > 1:
        print(f"digitrec: {failed} of {len(results)} inputs could not be read", file=sys.stderr)
    return 1 if failed else 0


def _save_pictures(args: argparse.Namespace, result, used: dict[str, set[str]]) -> None:
    """--save-preprocessed: the 28x28 image(s) the model saw; --show-steps: the steps' chart."""
    from digitrec.reading.answers import NumberPrediction
    from digitrec.reading.images import to_image

    if args.save_preprocessed:
        stem = Path(result.file or "image").stem
        if isinstance(result, NumberPrediction):
            arrays = [d.preprocessed for d in result.digits]
        else:
            arrays = [result.preprocessed]
        for k, array in enumerate(arrays):
            if array is not None:
                name = stem if len(arrays) == 1 else f"{stem}-{k + 1}"
                save_png(to_image(array), unique_path(Path(args.save_preprocessed), name, used["preprocessed"]))
    if args.show_steps and not args.number:
        _show_steps(result, Path(args.show_steps), used["steps"])


def _write_csv(path: str, results: list, number: bool) -> None:
    from digitrec.cli.batch import csv_table

    _write_rows(path, csv_table(results, number))


def _write_rows(path: str, rows: list[list]) -> None:
    import csv
    import io

    from digitrec.files import write_text

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    write_text(path, out.getvalue())


def cmd_gui(args: argparse.Namespace) -> int:
    from digitrec.app.window import run_gui

    return run_gui(args.model, args.runs_root)


def cmd_serve(args: argparse.Namespace) -> int:
    from digitrec.store import resolve_model
    from digitrec.web import Limits, serve
    from digitrec.web.server import listen

    limits = Limits(args.max_body_bytes, args.max_pixels, args.max_batch)
    sock = listen(args.host, args.port)  # a port in use is the first and only line
    choice = resolve_model(args.model, args.runs_root)
    say_default_model(choice, args.log_format)
    return serve(
        str(choice.path), args.host, args.port, limits, args.runs_root, workers=args.workers, sock=sock,
        job_timeout=args.job_timeout, max_queue=args.max_queue, graceful_timeout=args.graceful_timeout,
        keep_alive=args.keep_alive, access_log=None if args.no_access_log else args.log_format,
        log_format=args.log_format,
    )  # fmt: skip


def cmd_explain(args: argparse.Namespace) -> int:
    from digitrec import plots
    from digitrec.cli.batch import expand_inputs
    from digitrec.reading import explain
    from digitrec.reading.alloc import for_many_images
    from digitrec.reading.images import ImageError, load_image
    from digitrec.reading.predictor import Predictor

    files, problems = expand_inputs(args.inputs)
    if not _report_problems(problems, bool(files)):
        return 1
    method = args.method.replace("-", " ") if args.method else None
    for_many_images()
    predictor = Predictor(args.model, runs_root=args.runs_root)
    say_default_model(predictor.choice)
    out = Path(args.out)
    used: set[str] = set()
    failed = len(problems)
    for path in files:
        try:
            result, answer = explain.explain_image(predictor, path, args.digit, method, file=str(path))
            original = load_image(path).convert("RGB") if result is not None else None
        except ImageError as exc:
            print(f"digitrec: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        figure = None
        if result is not None and original is not None:
            original.thumbnail((256, 256))
            heading = f"{path.name}: {predictor.name}" + (f"; no digit ({answer.reason})" if answer.reason else "")
            figure = plots.plot_explanation(result, original, heading, unique_path(out, path.stem + "-explain", used))
        if args.json:
            record = {"file": str(path), "model": predictor.name, **explain.explanation_dict(result, answer)}
            print(json.dumps({**record, **({"figure": str(figure)} if figure else {})}), flush=True)
        elif result is None:
            print(f"{path}: no digit, nothing to explain: {answer.reason}", flush=True)
        else:
            said = f"{answer.digit}" if answer.digit is not None else f"no digit, best guess {answer.guess}"
            print(f"{path}: {said} ({answer.confidence:.1%}); why {result.digit}: {figure}", flush=True)
    return 1 if failed else 0


def _report_problems(problems: list, any_files: bool) -> bool:
    """Inputs that are not there, one line each on stderr; False when none of them is."""
    for problem in problems:
        print(f"digitrec: error: {problem.error}", file=sys.stderr)
    return any_files
