"""`python -m core`: presets, train, resume, explain, export-tensorboard, runs, data, worker, explainer, pretrain:
the dashboard's training without the dashboard, and what its background processes run."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from core import formatting as fmt
from core.analysis import reading
from core.classroom import ClassPolicy
from core.cli import explain as explain_cli
from core.cli import export as export_cli
from core.data import datasets
from core.explain import explainer
from core.networks import presets
from core.networks.config import ConfigError, TrainConfig, from_dict, parse_assignments
from core.queue import cluster, sweeps, worker
from core.queue.jobs import MAX_SEEDS, make_seed_jobs
from core.queue.turns import MAX_ACTIVE
from core.settings import Settings, SettingsError
from core.storage import listing, runs
from core.training import checkpoint
from core.training.device import set_threads
from core.training.fast import ENGINES
from core.training.resume import plan_resume, resume
from core.training.trainer import train

RAY_HELP = "host:port of a Ray cluster's head to train on (default $CLASSROOM_RAY_ADDRESS; docs/cluster.md)"
ENGINE_HELP = (
    "training loop: fast (data on the device, many steps per call) or fit (plain model.fit); default $CLASSROOM_ENGINE, else fast"
)


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


def cmd_presets(args) -> int:
    width = max(len(p) for p in presets.PRESETS)
    for p in presets.PRESETS.values():
        r = p.report
        figures = f"report: train {fmt.pct(r.train_accuracy, 2)}, val {fmt.pct(r.val_accuracy, 2)}"
        if r.test_error_ci95:
            figures += f", test error CI95 {r.test_error_ci95}"
        print(f"{p.id:<{width}}  {p.title}  [{figures}]")
    return 0


def _config_for(args):
    if args.preset:
        try:
            base = presets.get(args.preset).config.to_dict()
        except KeyError as e:
            raise UsageError(e.args[0]) from None
    else:
        base = {}
    overrides = parse_assignments(args.set or [])
    for name in ("epochs", "limit", "seed"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    return from_dict({**base, **overrides})


class ProgressBar:
    """A Keras progress bar per epoch, then one summary line."""

    def __init__(self):
        self.bar = None

    def on_start(self, run_dir, epochs, steps_per_epoch):
        self.epochs = epochs
        print(f"training into {run_dir} ({epochs} epochs x {steps_per_epoch} steps)", flush=True)

    def on_batch(self, epoch, step, steps):
        import keras

        if self.bar is None:
            print(f"epoch {epoch}/{self.epochs}", flush=True)
            self.bar = keras.utils.Progbar(steps, unit_name="step")
        self.bar.update(step)

    def on_epoch(self, row):
        self.bar = None
        print(f"  loss {row['loss']:.4f}  accuracy {fmt.pct(row.get('accuracy'), 2)}  "
              f"val_loss {row.get('val_loss', float('nan')):.4f}  val_accuracy {fmt.pct(row.get('val_accuracy'), 2)}  "
              f"({row['seconds']:.1f} s)", flush=True)


def cmd_train(args) -> int:
    config = _config_for(args)
    name = runs.clean_name(args.name) if args.name else (args.preset or config.architecture)
    if args.sweep and args.seeds != 1:
        raise UsageError("--sweep and --seeds cannot be combined: sweep one setting, or repeat one config with seeds")
    if args.sweep:
        specs = sweeps.make_sweep_jobs(config, args.runs_dir, name=name, sweep=sweeps.parse(args.sweep), preset=args.preset,
                                       data_dir=args.data_dir)
    else:
        specs = make_seed_jobs(config, args.runs_dir, name=name, seeds=args.seeds, preset=args.preset,
                               data_dir=args.data_dir)
    address = args.ray or args.settings.ray_address
    if address:  # on a Ray cluster (core.queue.cluster), each node with its own engine
        if args.engine:
            raise UsageError("--engine cannot be used with --ray: each Ray node trains with its own $CLASSROOM_ENGINE")
        for run_dir in cluster.train_on_cluster(address, specs):
            _print_result(run_dir)
        return 0
    for spec in specs:
        if spec.sweep:
            print(f"{spec.name} ({spec.sweep['index'] + 1} of {spec.sweep['size']})", flush=True)
        if spec.group:
            print(f"seed {spec.config.seed} ({spec.group['index'] + 1} of {args.seeds})", flush=True)
        _print_result(train(spec.config, args.runs_dir, spec.labels, run_id=spec.run_id, data_dir=args.data_dir,
                            listener=ProgressBar(), engine=args.engine))
    return 0


def _print_result(run_dir) -> None:
    """The run's outcome in one line, then its folder (the last line, for scripts)."""
    run = runs.read_run(run_dir)
    m = run.metrics()
    low, high = m["test_error_ci95"]
    print(f"{run.status}: test accuracy {fmt.pct(m['test_accuracy'], 2)}, 95% CI of the error ({low:.4f}, {high:.4f}), "
          f"best validation accuracy {fmt.pct(m.get('best_val_accuracy'), 2)}")
    print(run_dir)


def cmd_resume(args) -> int:
    config, saved = plan_resume(args.run_dir, args.epochs)  # says why not before anything is loaded
    print(f"resuming {args.run_dir} at epoch {saved.epoch + 1} of {config.epochs}", flush=True)
    run_dir = resume(args.run_dir, epochs=args.epochs, data_dir=args.data_dir, listener=ProgressBar(), engine=args.engine)
    _print_result(run_dir)
    return 0


def cmd_runs(args) -> int:
    if args.explain:
        return _explain_run(args)
    listed = listing.list_runs(args.runs_dir, args.settings.pretrained_dir)
    if not listed:
        print(f"no runs in {args.runs_dir} (train one: python -m core train --preset fmnist-arch1-tr1 --limit 2000 --epochs 2)")
        return 0
    for run in listed:
        accuracy = "—"
        if run.status in ("completed", "cancelled"):
            try:
                accuracy = fmt.pct(run.metrics().get("test_accuracy"), 2)
            except runs.RunError:
                pass
        where = "shipped" if run.shipped else "own"
        detail = f"  ({run.problem or run.record.get('error')})" if run.problem or run.record.get("error") else ""
        print(f"{run.id:<24} {run.status:<10} {accuracy:>8}  {where:<7}  {run.name}{detail}")
    return 0


def _explain_run(args) -> int:
    """`runs --explain RUN`: the run's curves in words (core.analysis.reading); RUN is an id or a run folder."""
    asked = Path(args.explain)
    run = (runs.read_run(asked) if (asked / runs.RUN_FILE).is_file() else
           listing.find_run(args.explain, args.runs_dir, args.settings.pretrained_dir))
    if not run.has_results:
        raise UsageError(f"run {run.name!r} has no results to read ({run.status}); `python -m core runs` lists the runs")
    print(f"{run.name} ({run.id})")
    for finding in reading.read_run(run.history(), run.config, run.headline(), run.record):
        print(f"- {finding.text.replace('**', '')}")
    return 0


def cmd_data(args) -> int:
    for name, info in datasets.DATASET_INFO.items():
        found = datasets.locate(name, args.data_dir)
        if found:
            print(f"{info.title}: {found[2]}")
        else:
            print(f"{info.title}: not found. To get it: {info.how_to_get}.")
    return 0


def cmd_worker(args) -> int:
    os.nice(args.nice)
    if args.threads:
        set_threads(args.threads)
    policy = ClassPolicy(args.runs_dir)  # an instructor's pause holds back new jobs
    if args.ray or args.settings.ray_address:  # the queue's jobs go to a Ray cluster instead
        address = args.ray or args.settings.ray_address
        cluster.serve_ray(args.runs_dir, address, parent_pid=args.parent_pid, policy=policy, gate=args.settings.epoch_gate)
        return 0
    worker.serve(args.runs_dir, slot=args.slot, parent_pid=args.parent_pid, policy=policy, gate=args.settings.epoch_gate,
                 shipped_dir=args.settings.pretrained_dir, max_active=args.max_active)
    return 0


def cmd_explainer(args) -> int:
    explainer.serve(args.runs_dir, data_dir=args.data_dir, parent_pid=args.parent_pid)
    return 0


def _same_config(saved: dict, config: TrainConfig) -> bool:
    """Whether a run's saved config is `config`, fields added since it was saved taking their defaults."""
    try:
        return from_dict(saved) == config
    except ConfigError:
        return False


def _continuable(run: runs.Run, config: TrainConfig) -> bool:
    """Whether `pretrain` can continue a run to `config` from its checkpoint: an interrupted run of the same
    settings, or, with a constant learning rate, a run of the same settings that stopped at fewer epochs."""

    if run.status not in ("failed", "cancelled", "completed") or not checkpoint.exists(run.path):
        return False
    epochs = run.config.get("epochs", 0)
    if run.status == "completed" or epochs != config.epochs:
        return (config.schedule == "constant" and 0 < epochs < config.epochs
                and _same_config(run.config, config.replace(epochs=epochs)))
    return _same_config(run.config, config)


def cmd_pretrain(args) -> int:
    """Train every preset (or --only some) into the shipped-runs folder. A preset with a finished run of at
    least the epochs asked is skipped. A run that can be continued from its checkpoint is (see `_continuable`).
    A run that reached its preset's epochs drops its optimizer state; a shorter one with a constant learning
    rate keeps its checkpoint, so that a later `pretrain` extends it."""

    wanted = args.only or list(presets.PRESETS)
    unknown = [p for p in wanted if p not in presets.PRESETS]
    if unknown:
        raise UsageError(f"unknown preset(s) {', '.join(unknown)}; run `python -m core presets` for the list")
    existing = listing.list_runs(args.out, pretrained_dir=None)
    for preset_id in wanted:
        preset = presets.get(preset_id)
        config = preset.config.replace(**({"epochs": args.epochs} if args.epochs else {}))
        own = [r for r in existing if r.record.get("preset") == preset_id]
        if not args.force and any(r.status == "completed" and r.config.get("epochs", 0) >= config.epochs for r in own):
            print(f"{preset_id}: already in {args.out}, skipped (--force retrains)")
            continue
        continuable = [r for r in own if _continuable(r, config)]
        if continuable and not args.force:
            print(f"{preset_id}: resuming {continuable[0].path} ({config.epochs} epochs in all)", flush=True)
            run_dir = resume(continuable[0].path, epochs=config.epochs, data_dir=args.data_dir, listener=ProgressBar(),
                             engine=args.engine)
        else:
            print(f"{preset_id}: training ({config.epochs} epochs)", flush=True)
            run_dir = train(config, args.out, runs.RunLabels(preset.title, preset_id), data_dir=args.data_dir,
                            listener=ProgressBar(), engine=args.engine)
        finished = runs.read_run(run_dir)
        print(f"{preset_id}: {finished.status}, test accuracy {fmt.pct(finished.metrics()['test_accuracy'], 2)}")
        if config.epochs < preset.config.epochs and config.schedule == "constant":
            print(f"{preset_id}: {config.epochs} of the preset's {preset.config.epochs} epochs; its checkpoint stays, so "
                  "`pretrain` without --epochs extends this run (git ignores checkpoints in pretrained/)")
        else:
            checkpoint.remove(run_dir)
        print(run_dir, flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Train and inspect the report's networks.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("presets", help="every preset with the report's figures").set_defaults(func=cmd_presets)

    train = sub.add_parser("train", help="train a preset or a config; prints the run folder last")
    train.add_argument("--preset", help="a preset id (see `presets`)")
    train.add_argument("--set", action="append", metavar="FIELD=VALUE", help="change one config field (repeatable)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--limit", type=int, help="train on the first N training images")
    train.add_argument("--seed", type=int)
    train.add_argument("--sweep", action="append", metavar="FIELD=V1,V2,...",
                       help=f"try one setting at several values (twice for a grid of two settings, {sweeps.MAX_RUNS} runs "
                            "at most): a sweep that Compare draws as one figure")
    train.add_argument("--seeds", type=int, default=1, metavar="N",
                       help=f"repeat with N consecutive seeds (2-{MAX_SEEDS}), a group that Compare shows as one row")
    train.add_argument("--name", help="the run's display name")
    train.add_argument("--data-dir", help="folder with the Fashion-MNIST .gz files and/or cifar100.npz")
    train.add_argument("--runs-dir", help="runs folder (default $CLASSROOM_RUNS_DIR, else runs)")
    train.add_argument("--engine", choices=ENGINES, help=ENGINE_HELP)
    train.add_argument("--ray", metavar="ADDRESS", help=RAY_HELP)
    train.set_defaults(func=cmd_train)

    resume = sub.add_parser("resume", help="continue a stopped, failed or killed run from its last completed epoch")
    resume.add_argument("run_dir", metavar="RUN_DIR", help="the run's folder")
    resume.add_argument("--epochs", type=int, help="train until this many epochs in all (more than the run has done; "
                                                     "changing a run's total needs a constant learning rate)")
    resume.add_argument("--data-dir", help="folder with the Fashion-MNIST .gz files and/or cifar100.npz")
    resume.add_argument("--engine", choices=ENGINES, help=ENGINE_HELP)
    resume.set_defaults(func=cmd_resume)

    explain_cli.add_parser(sub)
    export_cli.add_parser(sub)

    listing = sub.add_parser("runs", help="the saved runs with status and test accuracy")
    listing.add_argument("--runs-dir", help="runs folder (default $CLASSROOM_RUNS_DIR, else runs)")
    listing.add_argument("--explain", metavar="RUN", help="a run's curves in words (an id, or a run folder): what happened "
                                                         "and what to try (docs/reading-curves.md)")
    listing.set_defaults(func=cmd_runs)

    data = sub.add_parser("data", help="where each dataset is found, or how to get it")
    data.add_argument("--data-dir")
    data.set_defaults(func=cmd_data)

    worker = sub.add_parser("worker", help="serve the dashboard's training queue")
    worker.add_argument("--runs-dir", help="runs folder (default $CLASSROOM_RUNS_DIR, else runs)")
    worker.add_argument("--slot", type=int, default=0)
    worker.add_argument("--nice", type=int, default=0, choices=range(20), metavar="0-19",
                        help="lower this worker's CPU priority by this much (the dashboard's workers use 10)")
    worker.add_argument("--parent-pid", type=int, help="once idle, exit when this process (the dashboard's server) is gone")
    worker.add_argument("--ray", metavar="ADDRESS", help=RAY_HELP)
    worker.add_argument("--max-active", type=int, default=MAX_ACTIVE, metavar="N",
                        help=f"jobs this worker trains at once, taking turns (default {MAX_ACTIVE}; 1: one at a time)")
    worker.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads for TensorFlow in this worker (default: TensorFlow's own choice)")
    worker.set_defaults(func=cmd_worker)

    explainer = sub.add_parser("explainer", help="draw the Inspect page's look-inside views for the dashboard")
    explainer.add_argument("--runs-dir", help="runs folder (default $CLASSROOM_RUNS_DIR, else runs)")
    explainer.add_argument("--data-dir", help="folder with the Fashion-MNIST .gz files and/or cifar100.npz")
    explainer.add_argument("--parent-pid", type=int, help="once idle, exit when this process (the dashboard's server) is gone")
    explainer.set_defaults(func=cmd_explainer)

    pretrain = sub.add_parser("pretrain", help="train every preset of the report into pretrained/ (make pretrained)")
    pretrain.add_argument("--out", default=str(runs.PRETRAINED_DIR))
    pretrain.add_argument("--only", nargs="+", metavar="PRESET")
    pretrain.add_argument("--epochs", type=int, help="fewer epochs than the presets ask (recorded in each run)")
    pretrain.add_argument("--force", action="store_true", help="retrain presets that already have a run")
    pretrain.add_argument("--data-dir")
    pretrain.add_argument("--engine", choices=ENGINES, help=ENGINE_HELP)
    pretrain.set_defaults(func=cmd_pretrain)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "data_dir", None) and not Path(args.data_dir).is_dir():
        parser.exit(2, f"{parser.prog}: error: --data-dir {args.data_dir} is not a folder\n")
    try:
        args.settings = Settings.from_env()
        if hasattr(args, "runs_dir") and args.runs_dir is None:
            args.runs_dir = str(args.settings.runs_dir)
        if getattr(args, "data_dir", "") is None:
            args.data_dir = args.settings.data_dir
        return args.func(args)
    except (UsageError, ConfigError, SettingsError, datasets.DataError, runs.RunError, cluster.ClusterError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    except KeyboardInterrupt:
        parser.exit(130, "interrupted; the run is marked failed\n")

