"""`python -m core export-tensorboard RUN... --out DIR`: runs as TensorBoard event files
(core.analysis.export.write_tensorboard)."""

from __future__ import annotations

from pathlib import Path

from core.analysis import export
from core.storage import listing, runs


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("export-tensorboard",
                                   help="write runs as TensorBoard event files (then: tensorboard --logdir DIR)")
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="a run's folder, or a run's id (looked up in --runs-dir, then among the shipped runs)")
    parser.add_argument("--out", required=True, help="folder for the event files (made if missing)")
    parser.add_argument("--runs-dir", help="where to look up run ids (default $CLASSROOM_RUNS_DIR, else runs)")
    parser.set_defaults(func=cmd_export_tensorboard)


def resolve_runs(items, runs_dir, pretrained_dir) -> list[runs.Run]:
    """Each item as a run: a folder holding run.json, else a run id; RunError for anything else."""
    found = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            if not (path / runs.RUN_FILE).is_file():
                raise runs.RunError(f"{path} is not a run folder (it has no {runs.RUN_FILE})")
            found.append(runs.read_run(path))
        elif runs.RUN_ID_PATTERN.match(item):
            found.append(listing.find_run(item, runs_dir, pretrained_dir))
        else:
            raise runs.RunError(f"{item} is neither a run folder nor a run id; `python -m core runs` lists the runs")
    return found


def cmd_export_tensorboard(args) -> int:
    chosen = resolve_runs(args.runs, args.runs_dir, args.settings.pretrained_dir)  # main() fills runs_dir and settings
    for folder in export.write_tensorboard(chosen, args.out):
        print(folder)
    return 0
