"""The `digitrec` command: parses arguments and calls the subcommands (`training`,
`reading`); every default shown in --help is read from the code that owns it.

Exit codes: 0 success, 1 a failure explained in one line, 2 bad usage, 130 interrupted. The
contract is kept here, for every subcommand: argparse's errors, value ranges (`cli.types`),
flags that the rest of the command line would ignore (`conflicts`) and a library's `OptionError`
are one line on stderr and exit 2; any other error is one line and exit 1.
TensorFlow is imported only by the subcommands that need it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from digitrec import __version__
from digitrec.cli.output import GRID_MOST, say_failure
from digitrec.cli.reading import cmd_explain, cmd_gui, cmd_predict, cmd_serve
from digitrec.cli.training import add_config_flags, cmd_data, cmd_ensemble, cmd_evaluate, cmd_export, cmd_train
from digitrec.cli.types import count, fraction, seconds
from digitrec.cli.usage import conflicts, flag
from digitrec.errors import DigitrecError, OptionError

EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def usage_line(prog: str, problem: str) -> str:
    """Bad usage, in one line: "digitrec predict: error: … (see `digitrec predict --help`)"."""
    return f"{prog}: error: {problem} (see `{prog} --help`)"


class Parser(argparse.ArgumentParser):
    """argparse, with bad usage as one line on stderr (no usage block) and exit code 2. Its
    subcommands' parsers are made by this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, usage_line(self.prog, message) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="digitrec", description="Handwritten digit recognition with a Keras CNN.")
    parser.add_argument("--version", action="version", version=f"digitrec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = Parser(add_help=False)
    common.add_argument("--data-dir", help="dataset cache folder (default: $DIGITREC_DATA_DIR or ~/.cache/digitrec)")
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    _data_parser(sub, common)
    _train_parser(sub, common)
    _ensemble_parser(sub, common)
    _evaluate_parser(sub, common)
    _predict_parser(sub, common)
    _explain_parser(sub, common)
    _gui_parser(sub, common)
    _serve_parser(sub, common)
    _export_parser(sub, common)
    return parser


def _runs_root_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-root", help="folder for new run folders (default: $DIGITREC_RUNS or ./runs)")


def _model_flags(parser: argparse.ArgumentParser, what: str = "a model file or run folder") -> None:
    """--model and --runs-root, as every command that answers with a model takes them."""
    parser.add_argument("--model", help=f"{what} (default: the newest run, else the shipped model)")
    parser.add_argument("--runs-root", help="where runs live (default: $DIGITREC_RUNS or ./runs)")


def _data_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("data", parents=[common], help="prepare or describe a dataset")
    p.add_argument("action", choices=("prepare", "info"))
    p.add_argument("--dataset", default="mnist", help="mnist, fashion_mnist or cifar10 (default: mnist)")
    p.add_argument("--data-file", help="describe your own .npz or IDX folder instead (info)")
    p.add_argument("--force", action="store_true", help="rebuild the cache even if it is good")
    p.add_argument("--offline", action="store_true", help="never try Keras's online loader")
    p.set_defaults(func=cmd_data)


def _train_parser(sub, common: argparse.ArgumentParser) -> None:
    from digitrec.training.config import PRESETS

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
    add_config_flags(p)
    p.add_argument(
        "--run-dir",
        help="write the run here (default: runs/<time>-<dataset>-<model>); an unfinished run there is resumed",
    )
    p.add_argument("--resume", metavar="RUN", help="continue a killed or interrupted run from its last finished epoch")
    _runs_root_flag(p)
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar (default on a terminal) or one line per epoch",
    )
    p.add_argument(
        "--ensemble",
        type=count(2),
        metavar="K",
        help="train K models (seeds seed … seed+K-1) and save their average as one model",
    )
    p.add_argument("--list-models", action="store_true", help="list the model builders and exit")
    p.set_defaults(func=cmd_train)


def _ensemble_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "ensemble",
        parents=[common],
        help="average finished runs of any recipes into one model",
        description="Average the probabilities of finished runs (other models, augmentations or "
        "epochs; the same data) into one model, evaluated like a run of its own.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more finished run folders")
    p.add_argument("--run-dir", help="write the ensemble here (default: runs/<time>-<dataset>-ensemble-xN)")
    _runs_root_flag(p)
    p.add_argument("--data-file", help="the members' own .npz or IDX folder, when they were trained on one")
    p.add_argument("--limit-test", type=count(1), help="evaluate on the first N test images only")
    p.set_defaults(func=cmd_ensemble)


def _evaluate_parser(sub, common: argparse.ArgumentParser) -> None:
    from digitrec.web.limits import usable_cpus

    p = sub.add_parser("evaluate", parents=[common], help="recompute metrics and charts of a saved model")
    _model_flags(p, "a .keras/.h5/.tflite file, a SavedModel folder or a run folder")
    p.add_argument("--dataset", help="the dataset to test on (default: the one in the run's metadata, else mnist)")
    p.add_argument("--data-file", help="your own .npz or IDX folder to test on")
    p.add_argument("--limit-test", type=count(1), help="use the first N test images only")
    p.add_argument("--out", help="where to write metrics and charts (default: the model's run folder)")
    p.add_argument(
        "--jobs", type=count(1), default=usable_cpus(), help="processes: with 2 or more, a second one draws the "
        f"filters and the test map meanwhile (default: one per usable CPU, {usable_cpus()} here)",
    )  # fmt: skip
    p.set_defaults(func=cmd_evaluate)


def _predict_parser(sub, common: argparse.ArgumentParser) -> None:
    from digitrec.reading.parallel import PARALLEL_FROM
    from digitrec.reading.rules import MIN_CONFIDENCE, OPEN_SET_MIN_CONFIDENCE, SHIPPED_MIN_PAIR_CONFIDENCE
    from digitrec.web.limits import usable_cpus

    p = sub.add_parser(
        "predict",
        parents=[common],
        help="read digits in images, or test on random MNIST images",
        description="Predict the digit in each image (any photo, scan or drawing), or compare "
        "predictions with the truth on random test images (--random N).",
    )
    p.add_argument("inputs", nargs="*", metavar="IMAGE|FOLDER", help="image files, or folders read recursively")
    _model_flags(p)
    p.add_argument(
        "--random",
        type=count(1),
        metavar="N",
        help="predict N random test images (at most the test set) and compare with the truth",
    )
    p.add_argument("--seed", type=int, help="seed for --random (default: a new draw each time)")
    p.add_argument("--dataset", help="the test set for --random (default: mnist)")
    p.add_argument(
        "--grid",
        help=f"where --random saves its image grid, the first {GRID_MOST} images "
        "(default: the run folder's random_test.png)",
    )
    p.add_argument("--number", action="store_true", help="read each image as a whole number (digits in a row)")
    p.add_argument("--csv", metavar="PATH", help="also write the answers as a CSV table")
    p.add_argument(
        "--jobs", type=count(1), default=usable_cpus(), help="processes that read the images, in order, "
        f"from {PARALLEL_FROM} images on (default: one per usable CPU, {usable_cpus()} here)",
    )  # fmt: skip
    p.add_argument("--save-preprocessed", metavar="DIR", help="write the 28x28 image the model saw for each input")
    p.add_argument(
        "--show-steps", metavar="DIR", help="write a chart per image of each preprocessing step and the answer"
    )
    p.add_argument(
        "--min-confidence",
        type=fraction,
        default=None,
        help="answer 'uncertain' (no digit) where the best guess is below this probability (default: "
        f"the model's own: {OPEN_SET_MIN_CONFIDENCE:.2f} for a model trained with --open-set, else "
        f"{MIN_CONFIDENCE:.2f}; the shipped model's two likeliest digits together at "
        f"{SHIPPED_MIN_PAIR_CONFIDENCE:.2f})",
    )
    p.set_defaults(func=cmd_predict)


def _explain_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "explain",
        parents=[common],
        help="see inside the network: feature maps and the pixels that decided, per image",
        description="For each image: the 28x28 the model saw, which pixels drove the answer, the ten "
        "probabilities and every convolution's and pooling's feature maps, as one figure.",
    )
    p.add_argument("inputs", nargs="+", metavar="IMAGE|FOLDER", help="image files, or folders read recursively")
    _model_flags(p)
    p.add_argument(
        "--digit", type=count(0, 9), help="explain this digit's probability instead of the answer's ('why not a 7?')"
    )
    p.add_argument("--out", default=".", help="where the figures go (default: the current folder)")
    p.add_argument(
        "--method",
        choices=("occlusion", "integrated-gradients", "gradient-x-input"),
        help="the attribution (default: occlusion on the model's LiteRT file, without TensorFlow; "
        "integrated gradients for a Keras-only model)",
    )
    p.set_defaults(func=cmd_explain)


def _gui_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("gui", help="open the drawing app: draw a digit, see the answer live")
    _model_flags(p)
    p.set_defaults(func=cmd_gui)


def _serve_parser(sub, common: argparse.ArgumentParser) -> None:
    from digitrec.web.limits import DEFAULT_WORKERS, MAX_WORKERS, Limits

    p = sub.add_parser("serve", help="run the web service and its drawing page")
    _model_flags(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=count(1, 65535), default=8000, help="port, 1-65535 (default: 8000)")
    limits = Limits()
    p.add_argument(
        "--max-body-bytes",
        type=count(1),
        default=limits.max_body_bytes,
        help=f"largest request body (default: {limits.max_body_bytes // 2**20} MiB)",
    )
    p.add_argument(
        "--max-pixels",
        type=count(1),
        default=limits.max_pixels,
        help=f"largest image, in pixels (default: {limits.max_pixels / 1e6:g} M)",
    )
    p.add_argument(
        "--max-batch",
        type=count(1),
        default=limits.max_batch,
        help=f"most images in one /predict/batch (default: {limits.max_batch})",
    )
    p.add_argument(
        "--workers",
        type=count(1, MAX_WORKERS),
        default=DEFAULT_WORKERS,
        help="processes that answer requests, each with the model; jobs go to the next free one "
        f"(default: one per usable CPU, {DEFAULT_WORKERS} here; at most 4 per usable CPU, {MAX_WORKERS})",
    )
    _operations_flags(p)
    p.set_defaults(func=cmd_serve)


def _operations_flags(p: argparse.ArgumentParser) -> None:
    """serve's flags for the people who run it (docs/service.md#operations)."""
    from digitrec.web.limits import QUEUE_PER_WORKER
    from digitrec.web.pool import JOB_TIMEOUT

    for name, kind, default, words in (
        ("--job-timeout", seconds, JOB_TIMEOUT, "seconds a job may run before its worker is killed and replaced; "
         "the job runs again, and a second time-out is a 504"),
        ("--max-queue", count(0), None, f"requests that may wait for a worker; past it, 503 with Retry-After "
         f"(default: {QUEUE_PER_WORKER} per worker)"),
        ("--graceful-timeout", count(0, 3600), 10, "on SIGTERM or Ctrl-C, seconds to answer the requests in flight"),
        ("--keep-alive", count(1, 3600), 5, "seconds an idle connection stays open; set it above your load "
         "balancer's idle timeout"),
    ):  # fmt: skip
        shown = "" if default is None else f" (default: {default:g})"
        p.add_argument(name, type=kind, default=default, help=words + shown)
    p.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="the access log (stdout) and the service's "
        "own lines (stderr): text, or one JSON object a line (default: text)",
    )  # fmt: skip
    p.add_argument("--no-access-log", action="store_true", help="no line per request")


def _export_parser(sub, common: argparse.ArgumentParser) -> None:
    from digitrec.training.config import QUANTIZATIONS

    p = sub.add_parser("export", parents=[common], help="write the model for serving: SavedModel, LiteRT/TFLite")
    _model_flags(p)
    p.add_argument("--format", choices=("savedmodel", "tflite", "all"), default="all")
    p.add_argument("--out", help="folder to write into (default: <run folder>/export)")
    p.add_argument("--no-check", action="store_true", help="skip comparing the exports with Keras on the test set")
    p.add_argument("--limit-test", type=count(1), help="check on the first N test images only")
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


def error_line(exc: DigitrecError) -> tuple[str, int]:
    """A library error in the command line's words, and the exit code it gives."""
    from digitrec.store import NoModelError
    from digitrec.training.runs import RunStopped, TrainingInterrupted

    if isinstance(exc, TrainingInterrupted):  # as for any program stopped by Ctrl+C
        return f"{exc}: resume with `digitrec train --resume {exc.run_dir}`", EXIT_INTERRUPTED
    if isinstance(exc, RunStopped):
        return f"error: {exc}: resume with `digitrec train --resume {exc.run_dir}`", EXIT_FAILURE
    if isinstance(exc, OptionError):  # a value the command line could not check: bad usage
        return f"error: {flag(exc.option)} {exc.problem}", EXIT_USAGE
    if isinstance(exc, NoModelError):
        fix = ", or check the path" if exc.path else " (or `make run`), or pass --model PATH"
        return f"error: {exc}: train one with `digitrec train`{fix}", EXIT_FAILURE
    return f"error: {exc}", EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    # Told by the subcommand, whose --help lists what it takes (argparse names the top level).
    problem = f"unrecognized arguments: {' '.join(unknown)}" if unknown else conflicts(args)
    if problem:
        print(usage_line(f"digitrec {args.command}", problem), file=sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except DigitrecError as exc:
        line, code = error_line(exc)
        say_failure(args, line)
        return code
    except KeyboardInterrupt:
        say_failure(args, "interrupted")
        return EXIT_INTERRUPTED
    except OSError as exc:  # a disk or permission problem the library did not anticipate
        from digitrec.files import os_error_parts

        file, reason = os_error_parts(exc)
        say_failure(args, f"error: {file + ': ' if file else ''}{reason}")
        return EXIT_FAILURE
    except MemoryError:
        say_failure(args, "error: out of memory (try a smaller --batch-size or --limit-train)")
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - a bug or a library failure: one line unless debugging
        if os.environ.get("DIGITREC_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        say_failure(
            args, f"error: unexpected {type(exc).__name__}: {first} (set DIGITREC_DEBUG=1 to see the traceback)"
        )
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
