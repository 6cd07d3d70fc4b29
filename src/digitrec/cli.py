"""The `digitrec` command: parses arguments and calls the library; nothing else lives here.

Exit codes: 0 success, 1 a failure explained in one line, 2 bad usage, 130 interrupted.
TensorFlow is imported only by the subcommands that need it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import DigitrecError, __version__


def _log(as_json: bool):
    """Where progress lines go: stderr when stdout carries JSON."""
    return (lambda msg: print(msg, file=sys.stderr)) if as_json else print


def _say_default_model(choice) -> None:
    """When no --model was given, name on stderr the model that answers."""
    if choice.default:
        print(f"digitrec: using {choice.describe()}", file=sys.stderr)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


# ---------------------------------------------------------------- data


def cmd_data(args: argparse.Namespace) -> int:
    from . import data

    if args.action == "prepare":
        data.prepare_dataset(args.dataset, args.data_dir, force=args.force, online=not args.offline)
    dataset = data.load_dataset(args.dataset, args.data_dir, data_file=args.data_file, online=not args.offline)
    info = data.describe(dataset)
    if args.json:
        _print_json(info)
        return 0
    print(f"{info['name']}: {info['description']}")
    print(f"  source        {info['source']}")
    for name, shape in info["shapes"].items():
        print(f"  {name:<8}      {tuple(shape)}")
    print(f"  classes       {', '.join(info['classes'])}")
    print(f"  train counts  {info['train_class_counts']}")
    print(f"  test counts   {info['test_class_counts']}")
    print(
        f"  checksum      {info['checksum']}"
        f" ({'matches the canonical arrays' if info['verified'] else 'not a canonical dataset'})"
    )
    return 0


# ---------------------------------------------------------------- train


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    from .config import TrainConfig, fields_for_cli

    hints = typing.get_type_hints(TrainConfig)
    for field in fields_for_cli():
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        base = [t for t in typing.get_args(kind) if t is not type(None)] or [kind]
        kind = base[0]
        if kind is bool:
            parser.add_argument(
                flag,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{field.metadata['help']} (default: {field.default})",
            )
        else:
            parser.add_argument(
                flag,
                dest=field.name,
                type=kind,
                default=None,
                metavar=field.name.upper(),
                help=f"{field.metadata['help']} (default: {field.default})",
            )


def cmd_train(args: argparse.Namespace) -> int:
    from .config import fields_for_cli, load_config, resolve_config
    from .models import MODELS

    if args.list_models:
        print("\n".join(MODELS))
        return 0
    overrides = {f.name: getattr(args, f.name) for f in fields_for_cli()}
    if args.resume:
        if not Path(args.resume, "config.json").is_file():
            raise DigitrecError(f"{args.resume} is not a run folder (no config.json)")
        args.run_dir = args.resume
        args.config = str(Path(args.resume, "config.json"))
        plan = Path(args.resume, "ensemble.json")
        if plan.is_file() and args.ensemble is None:
            from .store import read_json

            args.ensemble = int(read_json(plan)["members"])
    base = load_config(args.config) if args.config else None
    config = resolve_config(args.preset, overrides, base=base)

    from .ensemble import train_ensemble
    from .train import train_and_evaluate

    log = _log(args.json)
    options = dict(
        run_dir=args.run_dir,
        runs_root=args.runs_root,
        data_dir=args.data_dir,
        progress=args.progress,
        log=log,
        command=shlex.join(["digitrec", *sys.argv[1:]]),
    )
    if args.ensemble is not None:
        result = train_ensemble(config, args.ensemble, **options)
        log(_members_line(result))
    else:
        result = train_and_evaluate(config, **options)
    if result.metadata.get("chief") is False:  # a worker of a multi-worker run: the chief reports
        if args.json:
            _print_json(
                {
                    "run_dir": str(result.run_dir),
                    "chief": False,
                    "epochs": len(result.history.get("loss", [])),
                    "train_seconds": round(result.train_seconds, 2),
                }
            )
        return 0
    return _report_run(result, args.json)


def _report_run(result, as_json: bool) -> int:
    """The summary of a finished run (or ensemble): three lines, or one JSON object."""
    m = result.metrics
    summary = {
        "run_dir": str(result.run_dir),
        "test_accuracy": m["test_accuracy"],
        "test_loss": m["test_loss"],
        "test_samples": m["test_samples"],
        "train_seconds": round(result.train_seconds, 2),
        "epochs": result.metadata["training"]["epochs"],
    }
    if as_json:
        _print_json(summary)
    else:
        print(
            f"test accuracy {m['test_accuracy']:.2%}  loss {m['test_loss']:.4f}  "
            f"({m['errors']} errors in {m['test_samples']} test images)"
        )
        print(
            f"trained {summary['epochs']} epochs in {result.train_seconds:.1f} s "
            f"({result.metadata['training']['seconds_per_epoch']:.1f} s/epoch)"
        )
        print(f"run folder: {result.run_dir}  (charts, models, metrics, report.txt)")
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from .ensemble import combine_runs

    result = combine_runs(
        args.runs,
        run_dir=args.run_dir,
        runs_root=args.runs_root,
        data_dir=args.data_dir,
        data_file=args.data_file,
        limit_test=args.limit_test,
        command=shlex.join(["digitrec", *sys.argv[1:]]),
        log=_log(args.json),
    )
    _log(args.json)(_members_line(result))
    return _report_run(result, args.json)


def _members_line(result) -> str:
    members = result.metadata["ensemble"]["members"]
    return (
        "members: "
        + ", ".join(f"{m['model']} {m['test_accuracy']:.2%}" for m in members)
        + f"; their average: {result.metrics['test_accuracy']:.2%}"
    )


# ---------------------------------------------------------------- evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_saved_model

    out_dir, m = evaluate_saved_model(
        args.model,
        out_dir=args.out,
        dataset_name=args.dataset,
        data_file=args.data_file,
        data_dir=args.data_dir,
        limit_test=args.limit_test,
        runs_root=args.runs_root,
    )
    if args.json:
        _print_json(
            {
                "model": m["model"],
                "backend": m["backend"],
                "out_dir": str(out_dir),
                **{k: m[k] for k in ("test_accuracy", "test_loss", "test_samples", "errors")},
            }
        )
    else:
        print(
            f"test accuracy {m['test_accuracy']:.2%}  loss {m['test_loss']:.4f}  "
            f"({m['errors']} errors in {m['test_samples']} test images)"
        )
        print(f"metrics and charts written to {out_dir}")
    return 0


# ---------------------------------------------------------------- predict


def _unique_path(folder: Path, stem: str, used: set[str]) -> Path:
    name, n = f"{stem}.png", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.png"
    used.add(name)
    return folder / name


def _save_png(image, path: Path) -> None:
    from .store import atomic_path

    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def _predict_random(args: argparse.Namespace, predictor) -> int:
    from . import plots
    from .predict import random_test

    index, images, truth, probs = random_test(predictor, args.random, args.seed, args.dataset)
    answers = [predictor.answer(row) for row in probs]
    right = 0
    records = []
    for i, t, a in zip(index, truth, answers):
        ok = a.best_guess == t
        right += ok
        records.append(
            {
                "index": int(i),
                "true": int(t),
                **{k: v for k, v in a.to_dict().items() if k != "file"},
                "correct": bool(ok),
            }
        )
        if not args.json:
            mark = "" if ok else "   <- wrong"
            print(f"test #{i:<5d}  true {t}  predicted {a.best_guess}  ({a.confidence:.1%}){mark}")
    run = predictor.choice.run_dir
    in_run = run is not None and not predictor.choice.shipped  # never inside the package
    grid = Path(args.grid) if args.grid else (run / "random_test.png" if in_run else Path("random_test.png"))
    plots.plot_predictions(images, truth, [a.best_guess for a in answers], [a.confidence for a in answers], grid)
    if args.json:
        _print_json(
            {
                "model": predictor.name,
                "accuracy": right / len(records),
                "correct": right,
                "count": len(records),
                "grid": str(grid),
                "predictions": records,
            }
        )
    else:
        print(f"accuracy {right}/{len(records)} = {right / len(records):.1%}   grid: {grid}")
    return 0


def _predict_text(result) -> str:
    from .predict import Failure, NumberPrediction

    if isinstance(result, Failure):
        return f"{result.file}: error: {result.error}"
    if isinstance(result, NumberPrediction):
        if result.number is None:
            return f"{result.file}: no number ({result.reason})"
        conf = min(d.confidence for d in result.digits)
        return f"{result.file}: {result.number}  (least sure digit {conf:.1%})"
    if result.digit is None:
        return f"{result.file}: no digit ({result.reason})"
    top = ", ".join(f"{d} {p:.1%}" for d, p in result.top_k(3))
    return f"{result.file}: {result.digit}  ({result.confidence:.1%}; top {top})"


def _show_steps(result, folder: Path, used: set[str]) -> None:
    """A chart of what preprocessing did to one input, and the ten probabilities."""
    from . import plots, preprocess

    answer = f"{result.digit} ({result.confidence:.0%})" if result.digit is not None else "no digit"
    original = preprocess.load_image(result.file).convert("RGB")
    original.thumbnail((512, 512))
    plots.plot_preprocessing(
        original,
        result.steps,
        result.probabilities,
        answer,
        _unique_path(folder, Path(result.file).stem + "-steps", used),
    )


def _csv_rows(results, number: bool) -> list[list]:
    from .predict import Failure

    if number:
        rows = [["file", "number", "digits", "confidences", "reason", "error"]]
        for r in results:
            if isinstance(r, Failure):
                rows.append([r.file, "", "", "", "", r.error])
            else:
                rows.append(
                    [
                        r.file,
                        r.number or "",
                        " ".join("-" if d.digit is None else str(d.digit) for d in r.digits),
                        " ".join(f"{d.confidence:.4f}" for d in r.digits),
                        r.reason or "",
                        "",
                    ]
                )
        return rows
    rows = [["file", "digit", "confidence", *[f"p{d}" for d in range(10)], "reason", "error"]]
    for r in results:
        if isinstance(r, Failure):
            rows.append([r.file, "", "", *[""] * 10, "", r.error])
        else:
            rows.append(
                [
                    r.file,
                    "" if r.digit is None else r.digit,
                    f"{r.confidence:.6f}",
                    *[f"{p:.6f}" for p in r.probabilities],
                    r.reason or "",
                    "",
                ]
            )
    return rows


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict import MIN_CONFIDENCE, Failure, NumberPrediction, Prediction, Predictor, expand_inputs

    if args.min_confidence is None:
        args.min_confidence = MIN_CONFIDENCE
    if not args.random and not args.inputs:
        raise DigitrecError("give image files or folders, or --random N")
    if not 0.0 <= args.min_confidence <= 1.0:
        raise DigitrecError("--min-confidence must be between 0 and 1")
    files, problems = expand_inputs(args.inputs) if args.inputs else ([], [])
    predictor = Predictor(args.model, min_confidence=args.min_confidence, runs_root=args.runs_root)
    _say_default_model(predictor.choice)
    if args.random:
        return _predict_random(args, predictor)

    save_dir = Path(args.save_preprocessed) if args.save_preprocessed else None
    used: set[str] = set()
    used_steps: set[str] = set()
    results: list[Prediction | NumberPrediction | Failure] = list(problems)
    for problem in problems:
        print(f"digitrec: error: {problem.error}", file=sys.stderr)
        if args.json:
            print(json.dumps(problem.to_dict()), flush=True)
    for result in predictor.predict_files(files, number=args.number, steps=bool(args.show_steps)):
        results.append(result)
        if isinstance(result, Failure):
            print(f"digitrec: error: {result.error}", file=sys.stderr)
        else:
            if save_dir is not None:
                from .preprocess import to_image

                stem = Path(result.file or "image").stem
                if isinstance(result, NumberPrediction):
                    arrays = [d.preprocessed for d in result.digits]
                else:
                    arrays = [result.preprocessed]
                for k, array in enumerate(arrays):
                    if array is not None:
                        _save_png(
                            to_image(array),
                            _unique_path(save_dir, stem if len(arrays) == 1 else f"{stem}-{k + 1}", used),
                        )
            if args.show_steps and not args.number:
                _show_steps(result, Path(args.show_steps), used_steps)
        if args.json:
            print(json.dumps(result.to_dict()), flush=True)
        elif not isinstance(result, Failure):
            print(_predict_text(result), flush=True)
    if args.csv:
        import csv
        import io

        from .store import write_text

        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(_csv_rows(results, args.number))
        write_text(args.csv, out.getvalue())
    failed = sum(isinstance(r, Failure) for r in results)
    if failed:
        print(f"digitrec: {failed} of {len(results)} inputs could not be read", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- gui


def cmd_gui(args: argparse.Namespace) -> int:
    from .gui import run_gui

    return run_gui(args.model, args.runs_root)


# ---------------------------------------------------------------- serve and export


def cmd_serve(args: argparse.Namespace) -> int:
    from .store import resolve_model
    from .web import Limits, serve

    for name in ("max_body_bytes", "max_pixels", "max_batch", "workers"):
        if getattr(args, name) < 1:
            raise DigitrecError(f"--{name.replace('_', '-')} must be at least 1")
    limits = Limits(args.max_body_bytes, args.max_pixels, args.max_batch)
    choice = resolve_model(args.model, args.runs_root)
    _say_default_model(choice)
    return serve(str(choice.path), args.host, args.port, limits, args.runs_root, workers=args.workers)


def cmd_export(args: argparse.Namespace) -> int:
    from .export import add_litert_to_run, export_model

    if args.to_run:
        record = add_litert_to_run(args.model, runs_root=args.runs_root, log=_log(args.json))
        if args.json:
            _print_json(record)
        return 0 if record.get("file") else 1
    report = export_model(
        args.model,
        args.format,
        args.out,
        runs_root=args.runs_root,
        check=not args.no_check,
        limit_test=args.limit_test,
        quantize=args.quantize,
    )
    if args.json:
        _print_json(report)
        return 0
    for fmt, item in report["exports"].items():
        agree = item.get("agreement")
        check = f"; agrees with Keras on {agree:.2%} of {item['checked']} test images" if agree is not None else ""
        print(f"{fmt:<11} {item['path']}{check}")
    return 0


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from .config import PRESETS, QUANTIZATIONS
    from .predict import MIN_CONFIDENCE
    from .web.limits import DEFAULT_WORKERS, Limits

    parser = argparse.ArgumentParser(prog="digitrec", description="Handwritten digit recognition with a Keras CNN.")
    parser.add_argument("--version", action="version", version=f"digitrec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="dataset cache folder (default: $DIGITREC_DATA_DIR or ~/.cache/digitrec)")
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")

    p = sub.add_parser("data", parents=[common], help="prepare or describe a dataset")
    p.add_argument("action", choices=("prepare", "info"))
    p.add_argument("--dataset", default="mnist", help="mnist, fashion_mnist or cifar10 (default: mnist)")
    p.add_argument("--data-file", help="describe your own .npz or IDX folder instead (info)")
    p.add_argument("--force", action="store_true", help="rebuild the cache even if it is good")
    p.add_argument("--offline", action="store_true", help="never try Keras's online loader")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser(
        "train",
        parents=[common],
        help="train a model and write a run folder",
        description="Train, evaluate on the test set, and write models, metrics and charts.",
    )
    p.add_argument(
        "--preset", default="seed", help=f"named settings to start from ({', '.join(PRESETS)}; default: seed)"
    )
    p.add_argument("--config", help="start from a saved config.json instead of a preset")
    _add_config_flags(p)
    p.add_argument(
        "--run-dir",
        help="write the run here (default: runs/<time>-<dataset>-<model>); an unfinished run there is resumed",
    )
    p.add_argument("--resume", metavar="RUN", help="continue a killed or interrupted run from its last finished epoch")
    p.add_argument("--runs-root", help="folder for new run folders (default: $DIGITREC_RUNS or ./runs)")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar (default on a terminal) or one line per epoch",
    )
    p.add_argument(
        "--ensemble",
        type=int,
        metavar="K",
        help="train K models (seeds seed … seed+K-1) and save their average as one model",
    )
    p.add_argument("--list-models", action="store_true", help="list the model builders and exit")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "ensemble",
        parents=[common],
        help="average finished runs of any recipes into one model",
        description="Average the probabilities of finished runs (other models, augmentations or "
        "epochs; the same data) into one model, evaluated like a run of its own.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more finished run folders")
    p.add_argument("--run-dir", help="write the ensemble here (default: runs/<time>-<dataset>-ensemble-xN)")
    p.add_argument("--runs-root", help="folder for new run folders (default: $DIGITREC_RUNS or ./runs)")
    p.add_argument("--data-file", help="the members' own .npz or IDX folder, when they were trained on one")
    p.add_argument("--limit-test", type=int, help="evaluate on the first N test images only")
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("evaluate", parents=[common], help="recompute metrics and charts of a saved model")
    p.add_argument("--model", help="a .keras/.h5 file, a SavedModel folder or a run folder (default: newest run)")
    p.add_argument("--dataset", help="the dataset to test on (default: the one in the run's metadata, else mnist)")
    p.add_argument("--data-file", help="your own .npz or IDX folder to test on")
    p.add_argument("--limit-test", type=int, help="use the first N test images only")
    p.add_argument("--out", help="where to write metrics and charts (default: the model's run folder)")
    p.add_argument("--runs-root", help="where runs live (default: $DIGITREC_RUNS or ./runs)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "predict",
        parents=[common],
        help="read digits in images, or test on random MNIST images",
        description="Predict the digit in each image (any photo, scan or drawing), or compare "
        "predictions with the truth on random test images (--random N).",
    )
    p.add_argument("inputs", nargs="*", metavar="IMAGE|FOLDER", help="image files, or folders read recursively")
    p.add_argument("--model", help="a model file or run folder (default: the newest run)")
    p.add_argument("--runs-root", help="where runs live (default: $DIGITREC_RUNS or ./runs)")
    p.add_argument("--random", type=int, metavar="N", help="predict N random test images and compare with the truth")
    p.add_argument("--seed", type=int, help="seed for --random (default: a new draw each time)")
    p.add_argument("--dataset", default="mnist", help="the test set for --random (default: mnist)")
    p.add_argument("--grid", help="where --random saves its image grid (default: the run folder's random_test.png)")
    p.add_argument("--number", action="store_true", help="read each image as a whole number (digits in a row)")
    p.add_argument("--csv", metavar="PATH", help="also write the answers as a CSV table")
    p.add_argument("--save-preprocessed", metavar="DIR", help="write the 28x28 image the model saw for each input")
    p.add_argument(
        "--show-steps", metavar="DIR", help="write a chart per image of each preprocessing step and the answer"
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help=f"answer 'uncertain' (no digit) below this probability (default: {MIN_CONFIDENCE:.2f})",
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("gui", help="open the drawing app: draw a digit, see the answer live")
    p.add_argument("--model", help="a model file or run folder (default: the newest run)")
    p.add_argument("--runs-root", help="where runs live (default: $DIGITREC_RUNS or ./runs)")
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser("serve", help="run the web service and its drawing page")
    p.add_argument("--model", help="a model file or run folder (default: the newest run)")
    p.add_argument("--runs-root", help="where runs live (default: $DIGITREC_RUNS or ./runs)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    limits = Limits()
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=limits.max_body_bytes,
        help=f"largest request body (default: {limits.max_body_bytes // 2**20} MiB)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=limits.max_pixels,
        help=f"largest image, in pixels (default: {limits.max_pixels / 1e6:g} M)",
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=limits.max_batch,
        help=f"most images in one /predict/batch (default: {limits.max_batch})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="processes that answer requests, each with the model; jobs go to the next free one "
        f"(default: one per CPU core, {DEFAULT_WORKERS} here; 1 answers in the server's own threads)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", parents=[common], help="write the model for serving: SavedModel, LiteRT/TFLite")
    p.add_argument("--model", help="a model file or run folder (default: the newest run)")
    p.add_argument("--runs-root", help="where runs live (default: $DIGITREC_RUNS or ./runs)")
    p.add_argument("--format", choices=("savedmodel", "tflite", "all"), default="all")
    p.add_argument("--out", help="folder to write into (default: <run folder>/export)")
    p.add_argument("--no-check", action="store_true", help="skip comparing the exports with Keras on the test set")
    p.add_argument("--limit-test", type=int, help="check on the first N test images only")
    p.add_argument(
        "--to-run",
        action="store_true",
        help="write the run's own LiteRT file (RUN/model.tflite, int8 weights, checked on the test set "
        "and recorded in metadata.json) so the front ends answer from it; training does this itself",
    )
    p.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        default="none",
        help="LiteRT file: none (float32), dynamic (int8 weights: a quarter of the size, about 4x "
        "faster in batches for the shipped model) or int8 (weights and activations, calibrated "
        "on training images)",
    )
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DigitrecError as exc:
        print(f"digitrec: {exc.label}{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("digitrec: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a disk or permission problem the library did not anticipate
        from .store import os_error_parts

        file, reason = os_error_parts(exc)
        print(f"digitrec: error: {file + ': ' if file else ''}{reason}", file=sys.stderr)
        return 1
    except MemoryError:
        print("digitrec: error: out of memory (try a smaller --batch-size or --limit-train)", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug or a library failure: one line unless debugging
        if os.environ.get("DIGITREC_DEBUG"):
            raise
        print(
            f"digitrec: error: unexpected {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]} "
            "(set DIGITREC_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
