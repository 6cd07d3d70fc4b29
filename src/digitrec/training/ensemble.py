"""Ensembles: several models averaged into one Keras model, saved, evaluated and served like
any single run. `train_ensemble` trains K seeds of one recipe; `combine_runs` averages finished
runs of any recipes (`digitrec ensemble`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from digitrec import store
from digitrec._tf import keras as _keras
from digitrec.data import datasets
from digitrec.errors import DigitrecError, OptionError
from digitrec.files import read_json, write_json
from digitrec.training import evaluate
from digitrec.training.config import TrainConfig
from digitrec.training.export import litert_for_run
from digitrec.training.runs import RunOptions, RunResult, prepare_run_dir, run_metadata
from digitrec.training.train import train_and_evaluate


def ensemble_model(members: list, name: str = "ensemble"):
    """One Keras model that averages the probabilities of `members` (models with the same input
    and output shapes). It saves, loads, exports and predicts like any single model."""
    keras = _keras()
    if not members:
        raise DigitrecError("an ensemble needs at least one member")
    shape = tuple(members[0].input_shape[1:])
    if any(tuple(m.input_shape[1:]) != shape or m.output_shape != members[0].output_shape for m in members):
        raise DigitrecError("ensemble members must take and give the same shapes")
    inputs = keras.Input(shape=shape, name="image")
    outputs = []
    for i, member in enumerate(members, start=1):
        member.name = f"member{i}_{member.name}"  # unique layer names inside the ensemble
        outputs.append(member(inputs, training=False))
    averaged = keras.layers.Average(name="probabilities")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, averaged, name=name)


def train_ensemble(config: TrainConfig, members: int, options: RunOptions | None = None) -> RunResult:
    """Train `members` models of `config` with seeds seed, seed+1, … and save their average as
    one model in the options' `run_dir` (`RunOptions`). Each member is a complete run in
    `<run_dir>/members/`; training the same ensemble again skips finished members and resumes an
    unfinished one."""
    config = config.validated()
    options = options or RunOptions()
    log, command, run_dir = options.log, options.command, options.run_dir
    if members < 2:
        raise OptionError("members", "must be at least 2")
    if config.strategy != "default":
        raise OptionError("strategy", "must be default for an ensemble: its members train one after the other")
    dataset = datasets.load_dataset(config.dataset, options.data_dir, data_file=config.data_file)
    info = dataset.info
    if run_dir is None:
        run_dir = store.new_run_dir(options.runs_root, store.default_run_name(info.name, f"{config.model}-x{members}"))
    run_dir = Path(run_dir)
    seeds = [config.seed + i for i in range(members)]
    _check_plan(run_dir, config, {"members": members, "seeds": seeds})
    folders = []
    for i, seed in enumerate(seeds, start=1):
        member_dir = run_dir / "members" / f"{i}-seed{seed}"
        folders.append(member_dir)
        if (member_dir / "metadata.json").is_file():
            log(f"member {i}/{members} (seed {seed}) is already trained")
            continue
        log(f"member {i}/{members} (seed {seed})")
        train_and_evaluate(
            config.replace(seed=seed),
            dataclasses.replace(options, run_dir=member_dir, runs_root=None),
            mark_latest=False,
        )
    return save_ensemble(
        run_dir,
        [read_json(d / "metadata.json") for d in folders],
        folders,
        dataset,
        f"{config.model}_x{members}",
        config.limit_test,
        command,
        seed=config.seed,
        log=log,
    )


def _check_plan(run_dir: Path, config: TrainConfig, plan: dict) -> None:
    """A new ensemble folder, or the unfinished one of this very plan (members and seeds)."""
    plan_file = run_dir / "ensemble.json"
    resuming = plan_file.is_file()
    if resuming and read_json(plan_file) != plan:
        raise OptionError("run_dir", f"{run_dir} holds another ensemble; choose a new one")
    if not resuming and run_dir.exists() and any(run_dir.iterdir()):
        raise OptionError("run_dir", f"{run_dir} is not empty; choose a new one")
    prepare_run_dir(run_dir, config, resuming)
    write_json(plan_file, plan)


def _shared_threshold(metadata: list[dict]) -> dict:
    """The members' `min_confidence` and `open_set` where they all record the same (an average of
    open-set models is one too: its doubt means "not a digit"), each else left out: answers then
    use the default."""
    shared = {}
    for key in ("min_confidence", "open_set"):
        values = {m.get(key) for m in metadata}
        if len(values) == 1 and None not in values:
            shared[key] = values.pop()
    return shared


def members_problem(runs: Sequence[str | Path]) -> str | None:
    """What makes these runs no ensemble before any is opened (too few, one named twice), or None;
    the command line says it as bad usage."""
    if len(runs) < 2:
        return "an ensemble needs at least 2 runs"
    if len({Path(run).resolve() for run in runs}) < len(runs):
        return "a run is named twice; name each member once"
    return None


def combine_runs(
    runs: list[str | Path],
    run_dir: str | Path | None = None,
    runs_root: str | Path | None = None,
    data_dir: str | Path | None = None,
    data_file: str | Path | None = None,
    limit_test: int | None = None,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Average finished runs of any recipes (other models, augmentations, epochs) trained on the
    same data into one model, in a new run folder: what `digitrec ensemble` does. Members that
    make different mistakes are what an average can correct; seeds of one recipe mostly agree.

    Args:
      runs: two or more finished run folders (each with its metadata.json and model.keras).
      run_dir: the new folder; `<runs root>/<time>-<dataset>-ensemble-xN` when None.
      data_file: the members' own data (`--data-file`), when they were not trained on a named dataset.
    """
    folders = [Path(r) for r in runs]
    if problem := members_problem(folders):
        raise DigitrecError(problem)
    metadata = []
    for folder in folders:
        if not (folder / "metadata.json").is_file() or not (folder / "model.keras").is_file():
            raise DigitrecError(f"{folder} is not a finished run folder (no metadata.json and model.keras)")
        metadata.append(read_json(folder / "metadata.json"))
    sources = {(m["dataset"]["name"], m["dataset"]["checksum"]) for m in metadata}
    if len(sources) > 1:
        raise DigitrecError(
            "the runs were trained on different data: "
            + ", ".join(sorted(f"{name} ({checksum[:12]})" for name, checksum in sources))
        )
    dataset = datasets.load_dataset(metadata[0]["dataset"]["name"], data_dir, data_file=data_file)
    if dataset.checksum != metadata[0]["dataset"]["checksum"]:
        raise DigitrecError(f"the runs were trained on other {dataset.name} data than {data_file or 'its cache'} holds")
    if run_dir is None:
        run_dir = store.new_run_dir(runs_root, store.default_run_name(dataset.info.name, f"ensemble-x{len(folders)}"))
    run_dir = Path(run_dir)
    if run_dir.resolve() in {f.resolve() for f in folders}:
        raise OptionError("run_dir", f"{run_dir} is one of the members; choose a new one")
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise OptionError("run_dir", f"{run_dir} is not empty; choose a new one")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DigitrecError(f"cannot create run folder {run_dir}: {exc.strerror or exc}") from None
    return save_ensemble(run_dir, metadata, folders, dataset, f"ensemble_x{len(folders)}", limit_test, command, log=log)


def save_ensemble(
    run_dir: Path,
    metadata: list[dict],
    folders: list[Path],
    dataset,
    name: str,
    limit_test: int | None,
    command: str | None,
    seed: int | None = None,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Average the models in `folders` (runs described by `metadata`), save the average in
    `run_dir` and evaluate it there, as a run of its own."""
    model = ensemble_model([store.load_model(folder / "model.keras") for folder in folders], name=name)
    store.save_model(model, run_dir)
    names = [m["model"]["name"] for m in metadata]
    what = f"{len(names)} x {names[0]}" if len(set(names)) == 1 else " + ".join(names)
    title = f"{what} (averaged) on {dataset.info.name} test set"
    scored = evaluate.score(model, dataset, run_dir, None, title, limit_test)
    litert = litert_for_run(model, run_dir, scored.x, scored.evaluation.y_pred, log)
    train_seconds = sum(m["training"]["seconds"] for m in metadata)
    members = [
        {
            "run": str(folder.relative_to(run_dir) if folder.is_relative_to(run_dir) else folder),
            "model": m["model"]["name"],
            "command": m.get("command"),
            "test_accuracy": m["test_metrics"]["accuracy"],
            "seconds": round(m["training"]["seconds"], 2),
        }
        for folder, m in zip(folders, metadata)
    ]
    out = run_metadata(
        command,
        model.name,
        model,
        dataset,
        scored.metrics,
        train_seconds,
        sum(m["training"]["epochs"] for m in metadata),
        seed,
        samples={"test_samples": int(len(scored.x))},
        ensemble={"members": members, "combine": "mean of the members' probabilities"},
        **_shared_threshold(metadata),
        litert=litert,
    )
    write_json(run_dir / "metadata.json", out)
    store.mark_latest(run_dir)
    return RunResult(run_dir, scored.metrics, {}, train_seconds, out)
