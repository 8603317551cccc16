"""A run's curves read in words, the way the report's Discussion reads its own: what happened, on which figures it
rests, where the report saw the same, and what to try next. Pure functions of a run's history, config and metrics.

Every finding has a rule with thresholds (docs/reading-curves.md), so that a point or two of noise is never called
overfitting: a rise must be larger than the curve's own epoch-to-epoch wobble and last to the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import formatting as fmt
from core.data.datasets import DATASET_INFO
from core.networks.config import FIELDS, class_names

# Not learning: the training loss stays within this share of ln(classes), the loss of a uniform guess, and the
# training accuracy within NOT_LEARNING_ACCURACY times chance.
NOT_LEARNING_LOSS_SHARE = 0.95
NOT_LEARNING_ACCURACY = 2.0
# Overfitting: validation loss at its lowest at least MIN_EPOCHS_AFTER epochs before the end, and each of the last
# TAIL epochs above that lowest value by more than the largest of RISE_ABSOLUTE, RISE_RELATIVE of it, and RISE_NOISE
# times the median epoch-to-epoch change of the validation loss up to its lowest (its wobble).
MIN_EPOCHS_AFTER, TAIL = 3, 3
RISE_ABSOLUTE, RISE_RELATIVE, RISE_NOISE = 0.02, 0.05, 3.0
# Still improving: over the last WINDOW epochs (a fifth of the run, 3 to 10), validation accuracy climbs more than
# SLOPE_POINTS points an epoch on a straight-line fit, and its best is among them.
SLOPE_POINTS = 0.2
# Underfitting: training accuracy no higher than validation accuracy (FIT_GAP above it at most): the network does not
# fit even the images it trains on. Strong regularization: dropout of at least STRONG_DROPOUT or L2 of at least STRONG_L2.
FIT_GAP = 0.0
STRONG_DROPOUT, STRONG_L2 = 0.3, 1e-2
# A gap worth naming between training and validation accuracy, in points; from WIDE_GAP_POINTS it leads the finding.
GAP_POINTS = 3.0
WIDE_GAP_POINTS = 15.0

REPORT = {
    "overfitting": {"fashion_mnist": "as in the report's Arch 1 trial 1 (§5.1.1)",
                    "cifar100": "as in the report's CIFAR-100 Arch 3 (§5.2.3)"},
    "not learning": "as the report suspected of CIFAR-100 Arch 1 at learning rate 0.01 (§6.2)",
    "improving": "as the report found of its trial 4 (§5.1.4: “in 50 epochs we can only get up to 80 %”)",
    "underfitting": "as in the report's Arch 1 trial 2 (§5.1.2, over-regularized)",
}


@dataclass(frozen=True)
class Finding:
    kind: str  # not learning | overfitting | improving | underfitting | good fit | early stopping | learning rate
    text: str  # Markdown-safe sentences, figures included
    epoch: int | None = None  # where it starts (overfitting: the epoch of the lowest validation loss)


def _series(history: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(history.get(column, pd.Series(dtype=float)), errors="coerce").to_numpy(float)


def _pct(value: float) -> str:
    return fmt.pct(value)


def _loss(value: float) -> str:
    return f"{value:.3f}"


def overfitting_onset(history: pd.DataFrame) -> int | None:
    """The epoch from which the run overfits (its lowest validation loss), or None when the rule does not hold."""
    val = _series(history, "val_loss")
    loss = _series(history, "loss")
    if len(val) < MIN_EPOCHS_AFTER + 1 or np.isnan(val).any():
        return None
    best = int(np.argmin(val))
    if len(val) - 1 - best < MIN_EPOCHS_AFTER:
        return None
    wobble = float(np.median(np.abs(np.diff(val[: best + 1])))) if best >= 2 else 0.0
    rise = float(np.min(val[-TAIL:])) - float(val[best])
    if rise <= max(RISE_ABSOLUTE, RISE_RELATIVE * float(val[best]), RISE_NOISE * wobble):
        return None
    if not loss[-1] < loss[best]:  # training loss must keep falling: the network learns its own images better
        return None
    return int(history["epoch"].iloc[best])


def _window(n: int) -> int:
    return max(3, min(10, n // 5))


def still_improving(history: pd.DataFrame) -> tuple[float, float] | None:
    """(validation accuracy at the start, at the end) of the last window when it still climbs, else None."""
    acc = _series(history, "val_accuracy")
    if len(acc) < 4 or np.isnan(acc).any():
        return None
    w = _window(len(acc))
    tail = acc[-w:]
    slope = float(np.polyfit(np.arange(w), tail, 1)[0])
    if slope * 100 <= SLOPE_POINTS or float(np.max(acc)) > float(np.max(tail)):
        return None
    return float(tail[0]), float(tail[-1])


def read_run(history: pd.DataFrame, config: dict, metrics: dict | None = None, record: dict | None = None) -> list[Finding]:
    """What a run's curves show, in a few plain sentences, most important first."""
    record, metrics = record or {}, metrics or {}
    if history is None or len(history) == 0 or "loss" not in history:
        return []
    dataset = config.get("dataset")
    classes = len(class_names(config)) if dataset in DATASET_INFO else None
    loss, acc = _series(history, "loss"), _series(history, "accuracy")
    val_loss, val_acc = _series(history, "val_loss"), _series(history, "val_accuracy")
    epochs = [int(e) for e in history["epoch"]]
    n, last = len(epochs), epochs[-1]
    findings: list[Finding] = []

    if classes and loss[-1] >= NOT_LEARNING_LOSS_SHARE * math.log(classes) and acc[-1] <= NOT_LEARNING_ACCURACY / classes:
        rate = config.get("learning_rate", 0)
        why = ("the learning rate is likely too high: try one ten times smaller" if rate >= 1e-2 else
               "the learning rate may be too low, or the data or labels wrong" if rate <= 1e-5 else
               "try a smaller learning rate, or find one with the learning-rate finder")
        findings.append(Finding("not learning", (
            f"**It did not learn.** The training loss stayed at {_loss(loss[-1])}, where guessing among {classes} classes "
            f"gives ln {classes} = {_loss(math.log(classes))}, and training accuracy ended at {_pct(acc[-1])} (chance: "
            f"{_pct(1 / classes)}). At learning rate {fmt.value(rate)} {why}, {REPORT['not learning']}.")))
        return findings + _tail(record, metrics)

    onset = overfitting_onset(history)
    if onset is not None:
        k = epochs.index(onset)
        gap = (acc[-1] - val_acc[-1]) * 100
        also = (f" Validation accuracy still moved from {_pct(val_acc[k])} to {_pct(val_acc[-1])}: the network grows "
                "surer of its mistakes before it makes more of them." if val_acc[-1] > val_acc[k] + 0.005 else "")
        regularizers = [f"dropout {fmt.value(config.get('dropout', 0))}", f"L2 {fmt.setting('l2', config.get('l2', 0))}"]
        findings.append(Finding("overfitting", (
            f"**Overfitting from epoch {onset}.** Validation loss was lowest at epoch {onset} ({_loss(val_loss[k])}) and "
            f"rose to {_loss(val_loss[-1])} by epoch {last}, while training accuracy kept climbing, from {_pct(acc[k])} to "
            f"{_pct(acc[-1])} ({gap:.1f} points above validation), {REPORT['overfitting'].get(dataset, 'as in the report')}."
            f"{also} To try: more regularization (now {', '.join(regularizers)}), or early stopping, which would have "
            f"ended it near epoch {onset}."),
            onset))
    elif (rising := still_improving(history)) is not None:
        start, end = rising
        more = ("a longer schedule (more epochs)" if config.get("schedule", "constant") != "constant" else "more epochs")
        findings.append(Finding("improving", (
            f"**Still improving at the end.** Validation accuracy rose from {_pct(start)} to {_pct(end)} over the last "
            f"{_window(n)} epochs: {more} would likely help, {REPORT['improving']}.")))
    if onset is None and acc[-1] - val_acc[-1] <= FIT_GAP and not any(f.kind == "improving" for f in findings):
        strong = [f"dropout {fmt.value(config.get('dropout'))}" for _ in [0] if config.get("dropout", 0) >= STRONG_DROPOUT]
        strong += [f"L2 {fmt.value(config.get('l2'))}" for _ in [0] if config.get("l2", 0) >= STRONG_L2]
        what = (f"its regularization ({' and '.join(strong)}) is likely too strong, {REPORT['underfitting']}" if strong else
                f"less regularization (now dropout {fmt.value(config.get('dropout', 0))}, L2 "
                f"{fmt.setting('l2', config.get('l2', 0))}), a larger network or a higher learning rate would let it fit more")
        findings.append(Finding("underfitting", (
            f"**Underfitting.** Training accuracy ended at {_pct(acc[-1])}, no higher than validation accuracy "
            f"({_pct(val_acc[-1])}): the network does not fit even the images it trains on; {what}.")))
    if not findings:
        gap = (acc[-1] - val_acc[-1]) * 100
        lowest = f"Validation loss ended near its lowest ({_loss(val_loss[-1])}, lowest {_loss(float(np.min(val_loss)))})"
        both = f"({_pct(acc[-1])} and {_pct(val_acc[-1])})"
        if gap >= WIDE_GAP_POINTS:
            text = (f"**A wide gap, not yet overfitting.** {lowest}, but training accuracy is {gap:.1f} points above "
                    f"validation {both}: it fits its own images far better than new ones. More images per class, "
                    "augmentation or regularization are what narrow such a gap.")
        else:
            text = (f"**A steady fit.** {lowest} and training accuracy is {gap:.1f} points above validation {both}"
                    + (": it already fits its own images better than new ones, a gap worth watching."
                       if gap >= GAP_POINTS else "."))
        findings.append(Finding("good fit", text))
    return findings + _callbacks(history, config, record) + _tail(record, metrics)


def _callbacks(history: pd.DataFrame, config: dict, record: dict) -> list[Finding]:
    """What early stopping and reduce-on-plateau did."""
    out = []
    stopped = record.get("stopped_early_at")
    if stopped:
        val_loss = _series(history, "val_loss")
        best = int(history["epoch"].iloc[int(np.argmin(val_loss))]) if len(val_loss) else None
        out.append(Finding("early stopping", (
            f"Early stopping ended training at epoch {stopped} of {config.get('epochs')}, {config.get('early_stopping')} "
            f"epochs without a lower validation loss, and kept the weights of epoch {best} (validation loss "
            f"{_loss(float(np.min(val_loss)))})."), stopped))
    rates = _series(history, "learning_rate")
    if config.get("schedule", "constant") == "constant" and len(rates) > 1 and not np.isnan(rates).any():
        halved = [int(history["epoch"].iloc[i]) for i in range(1, len(rates)) if rates[i] < rates[i - 1] * 0.99]
        if halved:
            out.append(Finding("learning rate", (
                f"The learning rate was lowered at epoch{'s' if len(halved) > 1 else ''} "
                f"{', '.join(map(str, halved))} when validation loss stalled, from {fmt.value(float(rates[0]))} to "
                f"{fmt.value(float(rates[-1]))}."), halved[0]))
    return out


def _tail(record: dict, metrics: dict) -> list[Finding]:
    if not isinstance(metrics.get("test_accuracy"), (int, float)):
        return []
    return [Finding("test", f"On the {metrics.get('n_test', 0):,} test images: {_pct(metrics['test_accuracy'])} "
                            f"(95 % interval {fmt.accuracy_interval_text(metrics)}).")]


def compare_runs(name_a: str, a: tuple[pd.DataFrame, dict], name_b: str, b: tuple[pd.DataFrame, dict]) -> str | None:
    """Two runs' overfitting side by side ("B overfits later than A: epoch 23 vs 8 (dropout 0.5 vs 0)"), naming the
    settings in which they differ in the order the sentence names the runs; None when neither overfits. Names are
    Markdown-escaped here."""
    named = [(fmt.text(name_a), overfitting_onset(a[0]), len(a[0]), a[1]), (fmt.text(name_b), overfitting_onset(b[0]),
                                                                           len(b[0]), b[1])]
    if named[0][1] is None and named[1][1] is None:
        return None
    if named[0][1] is None or (named[1][1] is not None and named[1][1] > named[0][1]):
        named.reverse()  # the one that overfits later, or at all, is named first
    (first, onset_1, _, config_1), (second, onset_2, epochs_2, config_2) = named
    # A run saved before a field existed had that field's default.
    config_1, config_2 = ({key: config.get(key, f.default) for key, f in FIELDS.items()} for config in (config_1, config_2))
    differs = [f"{key.replace('_', ' ')} {fmt.setting(key, config_1[key])} vs {fmt.setting(key, config_2[key])}"
               for key in FIELDS if key != "seed" and config_1[key] != config_2[key]]
    why = f" ({'; '.join(differs)})" if differs else ""
    if onset_2 is None:
        return f"{first} overfits from epoch {onset_1}; {second} does not within its {epochs_2} epochs{why}."
    if onset_1 == onset_2:
        return f"Both overfit from epoch {onset_1}{why}."
    return f"{first} overfits later than {second}: epoch {onset_1} vs {onset_2}{why}."
