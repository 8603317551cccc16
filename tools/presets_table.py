"""Print the Markdown table of shipped runs against the report (docs/presets.md, README).

    .venv/bin/python tools/presets_table.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the project is not on the path

from core.networks import presets
from core.storage import (
    listing,
    runs,  # noqa: E402
)


def fmt(value, scale=100, digits=1):
    return "—" if value is None else f"{value * scale:.{digits}f}"


def main() -> None:
    shipped = {r.record.get("preset"): r for r in listing.list_runs(None, runs.PRETRAINED_DIR) if r.status == "completed"}
    for preset in presets.PRESETS.values():
        run, rep = shipped.get(preset.id), preset.report
        if run is None:
            print(f"| `{preset.id}` | {preset.config.l2:g} | not trained here ({fmt(rep.train_accuracy)}) | "
                  f"({fmt(rep.val_accuracy)}) | | |")
            continue
        m = run.metrics()
        low, high = m["test_error_ci95"]
        print(f"| `{preset.id}` | {preset.config.l2:g} | {fmt(m['train_accuracy'])} ({fmt(rep.train_accuracy)}) "
              f"| {fmt(m['val_accuracy'])} ({fmt(rep.val_accuracy)}) "
              f"| {m['train_loss']:.2f} / {m['val_loss']:.2f} ({fmt(rep.train_loss, 1, 2)} / {fmt(rep.val_loss, 1, 2)}) "
              f"| {fmt(m['test_accuracy'])} [{fmt(1 - high)}, {fmt(1 - low)}] |")


if __name__ == "__main__":
    main()
