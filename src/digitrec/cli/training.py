"""The training side of the command line: `digitrec data`, `train`, `ensemble`, `evaluate` and
`export`. Each parses nothing (`cli` does), calls the library and prints."""

from __future__ import annotations

import argparse
import shlex
import sys
import typing
from pathlib import Path

from digitrec.cli.output import log_to, print_json
from digitrec.errors import DigitrecError


def cmd_data(args: argparse.Namespace) -> int:
    from digitrec.data import datasets

    if args.action == "prepare":
        datasets.prepare_dataset(args.dataset, args.data_dir, force=args.force, online=not args.offline)
    dataset = datasets.load_dataset(args.dataset, args.data_dir, data_file=args.data_file, online=not args.offline)
    info = datasets.describe(dataset)
    if args.json:
        print_json(info)
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


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    from digitrec.training.config import TrainConfig, fields_for_cli

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
    from digitrec.training.architectures import MODELS
    from digitrec.training.config import fields_for_cli, load_config, resolve_config

    if args.list_models:
        print("\n".join(MODELS))
        return 0
    overrides = {f.name: getattr(args, f.name) for f in fields_for_cli()}
    if args.resume:
        if not Path(args.resume, "config.json").is_file():
            raise DigitrecError(f"{args.resume} is not a run folder (no config.json)")
        if Path(args.resume, "metadata.json").is_file():
            raise DigitrecError(
                f"{args.resume} is a finished run: nothing to resume (repeat it in a new folder with "
                f"`digitrec train --config {Path(args.resume, 'config.json')}`)"
            )
        args.run_dir = args.resume
        args.config = str(Path(args.resume, "config.json"))
        plan = Path(args.resume, "ensemble.json")
        if plan.is_file() and args.ensemble is None:
            from digitrec.files import read_json

            args.ensemble = int(read_json(plan)["members"])
    base = load_config(args.config) if args.config else None
    config = resolve_config(args.preset, overrides, base=base)

    from digitrec.training.ensemble import train_ensemble
    from digitrec.training.runs import RunOptions
    from digitrec.training.train import train_and_evaluate

    log = log_to(args.json)
    options = RunOptions(
        run_dir=args.run_dir,
        runs_root=args.runs_root,
        data_dir=args.data_dir,
        progress=args.progress,
        log=log,
        command=shlex.join(["digitrec", *sys.argv[1:]]),
    )
    if args.ensemble is not None:
        result = train_ensemble(config, args.ensemble, options)
        log(members_line(result))
    else:
        result = train_and_evaluate(config, options)
    if result.metadata.get("chief") is False:  # a worker of a multi-worker run: the chief reports
        if args.json:
            print_json(
                {
                    "run_dir": str(result.run_dir),
                    "chief": False,
                    "epochs": len(result.history.get("loss", [])),
                    "train_seconds": round(result.train_seconds, 2),
                }
            )
        return 0
    code = report_run(result, args.json)
    _say_where_it_answers(result.run_dir, args.runs_root, log)
    return code


def _say_where_it_answers(run_dir: Path, root: str | None, log) -> None:
    """A run trained outside the runs folder is not the default model: say how to use it."""
    from digitrec.store import runs_root

    if Path(run_dir).resolve().parent != runs_root(root).resolve():
        parent = Path(run_dir).parent
        log(f"not in {runs_root(root)}/, so not the default model: answer with it by --model {run_dir} "
            f"or --runs-root {parent} (or DIGITREC_RUNS={parent})")  # fmt: skip


def report_run(result, as_json: bool) -> int:
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
        print_json(summary)
    else:
        print(_accuracy_line(m))
        print(
            f"trained {counted(summary['epochs'], 'epoch')} in {result.train_seconds:.1f} s "
            f"({result.metadata['training']['seconds_per_epoch']:.1f} s/epoch)"
        )
        print(f"run folder: {result.run_dir}  (charts, models, metrics, report.txt)")
    return 0


def counted(n: int, thing: str) -> str:
    """`1 epoch`, `5 epochs`, `0 errors`."""
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _accuracy_line(m: dict) -> str:
    return (
        f"test accuracy {m['test_accuracy']:.2%}  loss {m['test_loss']:.4f}  "
        f"({counted(m['errors'], 'error')} in {m['test_samples']} test images)"
    )


def cmd_ensemble(args: argparse.Namespace) -> int:
    from digitrec.training.ensemble import combine_runs

    result = combine_runs(
        args.runs,
        run_dir=args.run_dir,
        runs_root=args.runs_root,
        data_dir=args.data_dir,
        data_file=args.data_file,
        limit_test=args.limit_test,
        command=shlex.join(["digitrec", *sys.argv[1:]]),
        log=log_to(args.json),
    )
    log_to(args.json)(members_line(result))
    return report_run(result, args.json)


def members_line(result) -> str:
    members = result.metadata["ensemble"]["members"]
    return (
        "members: "
        + ", ".join(f"{m['model']} {m['test_accuracy']:.2%}" for m in members)
        + f"; their average: {result.metrics['test_accuracy']:.2%}"
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from digitrec.training.evaluate import evaluate_saved_model

    out_dir, m = evaluate_saved_model(
        args.model,
        out_dir=args.out,
        dataset_name=args.dataset,
        data_file=args.data_file,
        data_dir=args.data_dir,
        limit_test=args.limit_test,
        runs_root=args.runs_root,
        jobs=args.jobs,
    )
    if args.json:
        print_json(
            {
                "model": m["model"],
                "backend": m["backend"],
                "out_dir": str(out_dir),
                **{k: m[k] for k in ("test_accuracy", "test_loss", "test_samples", "errors")},
            }
        )
    else:
        print(_accuracy_line(m))
        print(f"metrics and charts written to {out_dir}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from digitrec.training.export import add_litert_to_run, export_model

    if args.to_run:
        record = add_litert_to_run(args.model, runs_root=args.runs_root, log=log_to(args.json))
        if args.json:
            print_json(record)
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
        print_json(report)
        return 0
    for fmt, item in report["exports"].items():
        agree = item.get("agreement")
        check = f"; agrees with Keras on {agree:.2%} of {item['checked']} test images" if agree is not None else ""
        print(f"{fmt:<11} {item['path']}{check}")
    return 0
