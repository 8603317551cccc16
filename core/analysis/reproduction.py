"""Which runs reproduce the report's trials, how far they land from its figures, and why.

A reproduction of a trial is a finished run whose config is the preset's (the seed aside); any other run
that started from the preset is a variant, shown apart: a student's 2-epoch experiment must never stand
for the trial. Pure functions of runs and presets (no Streamlit), for the report page and its tests.
"""

from __future__ import annotations

from core import formatting as fmt
from core.networks.presets import PRESETS, Preset
from core.storage import runs

GAP = 0.05  # accuracy gap (5 points) above which a reproduction "differs much" and the page says why
MEASURES = (("Training accuracy", "train_accuracy", True), ("Validation accuracy", "val_accuracy", True),
            ("Training loss", "train_loss", False), ("Validation loss", "val_loss", False))


def reproductions(candidates: list[runs.Run]) -> dict[str, runs.Run]:
    """The newest completed reproduction of each preset (candidates come newest first), shipped or trained here:
    an imported run's numbers were computed elsewhere and could say anything, so it is only ever a variant."""
    found: dict[str, runs.Run] = {}
    for r in candidates:
        preset = PRESETS.get(r.record.get("preset"))
        if (preset and preset.id not in found and r.status == "completed" and not r.record.get("imported")
                and preset.reproduced_by(r.config)):
            found[preset.id] = r
    return found


def variants(candidates: list[runs.Run], reproduced: dict[str, runs.Run]) -> dict[str, list[runs.Run]]:
    """Every other run with results that started from a preset, newest first, by preset."""
    chosen = {r.id for r in reproduced.values()}
    out: dict[str, list[runs.Run]] = {}
    for r in candidates:
        preset = r.record.get("preset")
        if preset in PRESETS and r.has_results and r.id not in chosen:
            out.setdefault(preset, []).append(r)
    return out


def shortened(preset: Preset, others: list[runs.Run]) -> runs.Run | None:
    """Until a trial is reproduced, the furthest-trained shipped run that differs from it only by fewer epochs
    (a long CPU training shipped part-way); a student's shortened run never stands in for the trial."""
    fewer = [r for r in others if r.shipped and r.status == "completed"
             and set(preset.differences(r.config)) - {"seed"} == {"epochs"}
             and r.config.get("epochs", preset.config.epochs) < preset.config.epochs]
    return max(fewer, key=lambda r: r.config["epochs"], default=None)


def variant_change(preset: Preset, run: runs.Run) -> str:
    """What a variant changed, for its row: its departures, or why a run of the trial's settings is not the reproduction."""
    changed = departures(preset, run.config)
    if run.record.get("imported"):
        return "imported (trained elsewhere)" + (f"; {changed}" if changed else "")
    return changed or "the seed"


def departures(preset: Preset, config: dict) -> str:
    """How a config departs from its preset, in words ("trained 5 of 50 epochs; dropout 0.3 instead of 0.2")."""
    parts = []
    for field, (theirs, ours) in preset.differences(config).items():
        if field == "epochs":
            parts.append(f"trained {ours} of {theirs} epochs")
        elif field == "limit" and ours:
            parts.append(f"trained on the first {ours:,} training images only")
        else:
            name = "L2" if field == "l2" else field.replace("_", " ")
            parts.append(f"{name} {fmt.setting(field, ours)} instead of {fmt.setting(field, theirs)}")
    return "; ".join(parts)


def gap_phrases(preset: Preset, metrics: dict) -> list[str]:
    """ "validation accuracy is 6.2 points above the report's", for each accuracy off by more than GAP."""
    out = []
    for label, key, accuracy in MEASURES:
        theirs, ours = getattr(preset.report, key), metrics.get(key)
        if accuracy and theirs is not None and isinstance(ours, (int, float)) and abs(ours - theirs) > GAP:
            out.append(f"{label.lower()} is {abs(ours - theirs) * 100:.1f} points {'above' if ours > theirs else 'below'} "
                       "the report's")
    return out


def why(preset: Preset, run: runs.Run, gaps: list[str]) -> str:
    """Which accuracies are far from the report's, then the likeliest reason: the preset's note, and the L2
    strength the report never gives."""
    reasons = [preset.note.rstrip(".") + "."] if preset.note else []
    l2 = run.config.get("l2", preset.config.l2)
    if l2 > 0:
        reasons.append(f"The report never states its L2 strength, so this run's L2 = {l2:g} is a guess.")
    reason = " ".join(reasons) or "The report gives one run and few settings beyond its tables; one run here can land elsewhere."
    gap = "; ".join(gaps)
    return f"{gap[0].upper()}{gap[1:]}. Likely reason: {reason}"


def report_number(value: float | None, accuracy: bool) -> str:
    """As precise as the report printed it (94.33%, 50%, 1.3532, 0.4)."""
    if value is None:
        return fmt.DASH
    text = f"{value * 100:.2f}" if accuracy else f"{value:.4f}"
    return text.rstrip("0").rstrip(".") + ("%" if accuracy else "")


def our_number(value, accuracy: bool) -> str:
    if not isinstance(value, (int, float)):
        return fmt.DASH
    return f"{value * 100:.2f}%" if accuracy else f"{value:.3f}"


def difference(ours, theirs, accuracy: bool) -> str:
    if not isinstance(ours, (int, float)) or theirs is None:
        return fmt.DASH
    return f"{(ours - theirs) * 100:+.1f} points" if accuracy else f"{ours - theirs:+.3f}"


def comparison_rows(preset: Preset, metrics: dict | None, ours: str = "Reproduction") -> list[dict]:
    """Report, our run (column `ours`) and difference for each measure; the report alone while there is no run."""
    rows = []
    for label, key, accuracy in MEASURES:
        theirs = getattr(preset.report, key)
        row = {"": label, "Report": report_number(theirs, accuracy)}
        if metrics is not None:
            value = metrics.get(key)
            row.update({ours: our_number(value, accuracy), "Difference": difference(value, theirs, accuracy)})
        rows.append(row)
    return rows


def accuracy_line(preset: Preset, metrics: dict) -> str:
    """The test accuracy with its interval; beside the report's interval where the report gives one."""
    line = f"**Test accuracy {fmt.pct(metrics.get('test_accuracy'))}**, 95 % interval {fmt.accuracy_interval_text(metrics)}."
    ci, reported = metrics.get("test_error_ci95"), preset.report.test_error_ci95
    if reported and ci:
        overlap = ci[0] <= reported[1] and reported[0] <= ci[1]
        line += (f" As the report puts it, the error's interval is ({ci[0]:.4f}, {ci[1]:.4f}) against the report's "
                 f"({reported[0]:.4f}, {reported[1]:.4f}): they {'overlap' if overlap else 'do not overlap'}.")
    return line
