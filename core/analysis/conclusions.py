"""The report's conclusions, tested by the runs at hand: each claim in the report's words, beside what the shipped and
trained runs show, with the numbers and the runs to open.

    conclusions(runs)           # the report page's "What the report concluded, tested"
    per_class_curve(runs)       # test accuracy against images per class, from scratch and transferred

Pure functions of run folders; a claim whose runs are missing says so instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core import formatting as fmt
from core.analysis import reading
from core.analysis.reproduction import reproductions
from core.analysis.versus import versus
from core.networks.config import class_names
from core.storage import runs

START_WORDS = {None: "from scratch", "fine_tune": "fine-tuned", "frozen": "frozen features"}


@dataclass(frozen=True)
class Conclusion:
    claim: str  # the report's conclusion, in its words
    where: str  # its section
    finding: str  # what the runs show, with their numbers (Markdown-safe)
    verdict: str  # supported | not supported | partly | not tested yet
    run_ids: list[str] = field(default_factory=list)  # the runs to open


@dataclass(frozen=True)
class CurvePoint:
    per_class: int  # training images per class the run had
    start: str  # START_WORDS' value
    accuracy: float
    low: float  # 95 % interval of the test accuracy
    high: float
    run_id: str
    name: str


def _accuracy(run: runs.Run) -> tuple[float, float, float] | None:
    try:
        m = run.headline()
    except runs.RunError:
        return None
    interval = fmt.accuracy_interval(m)
    if not isinstance(m.get("test_accuracy"), (int, float)) or interval is None:
        return None
    return float(m["test_accuracy"]), *interval


def per_class_curve(candidates: list[runs.Run]) -> list[CurvePoint]:
    """The newest run with results of each (images per class, start) among runs that share a dataset, classes and
    network and differ in images per class; [] when they do not. Sorted by images per class, then start."""
    usable = [r for r in candidates if r.has_results and not r.problem and (r.record.get("data") or {}).get("train")]
    groups: dict[tuple, list[runs.Run]] = {}
    for r in usable:
        c = r.config
        groups.setdefault((c.get("dataset"), c.get("class_subset", "all"), c.get("architecture")), []).append(r)
    best = max(groups.values(), key=lambda g: len({_per_class(r) for r in g}), default=[])
    if len({_per_class(r) for r in best}) < 2:
        return []
    points: dict[tuple, CurvePoint] = {}
    for r in best:  # newest first: the first of each kind stays
        start = START_WORDS[r.config.get("transfer") if r.config.get("start_from") else None]
        key = (_per_class(r), start)
        if key not in points and (figures := _accuracy(r)) is not None:
            points[key] = CurvePoint(key[0], start, *figures, r.id, r.name)
    return sorted(points.values(), key=lambda p: (p.per_class, list(START_WORDS.values()).index(p.start)))


def _per_class(run: runs.Run) -> int:
    """Training images per class the run had (its record's count over its classes)."""
    return round(run.record["data"]["train"] / len(class_names({"dataset": run.record.get("dataset"), **run.config})))


def _by_preset(found: dict[str, runs.Run], preset: str) -> runs.Run | None:
    return found.get(preset)


def _gap(run: runs.Run) -> str:
    """How far training accuracy ended above (or below) validation accuracy, in words."""
    h = run.history()
    gap = float(h["accuracy"].iloc[-1] - h["val_accuracy"].iloc[-1]) * 100
    return f"{abs(gap):.1f} points {'above' if gap >= 0 else 'below'} its validation accuracy"


def _regularization(found: dict[str, runs.Run]) -> Conclusion:
    claim = Conclusion("Dropout and L2 reduce overfitting", "§7, §6.1", "", "not tested yet")
    bare, regularized = _by_preset(found, "fmnist-arch1-tr1"), _by_preset(found, "fmnist-arch1-tr3")
    if bare is None or regularized is None:
        return claim
    onset_bare, onset_reg = reading.overfitting_onset(bare.history()), reading.overfitting_onset(regularized.history())
    finding = (f"Arch 1 without regularization (trial 1) overfits from epoch {onset_bare}, its training accuracy ending "
               f"{_gap(bare)}; with dropout 0.05 and L2 0.001 (trial 3) "
               + ("it does not overfit within 50 epochs" if onset_reg is None else f"it overfits from epoch {onset_reg}")
               + f", ending {_gap(regularized)}. Too much of it underfits: trial 2's L2 0.05 leaves training accuracy "
               "below the validation's (the report's §5.1.2).")
    supported = onset_bare is not None and (onset_reg is None or onset_reg > onset_bare)
    return Conclusion(claim.claim, claim.where, finding, "supported" if supported else "not supported",
                      [bare.id, regularized.id])


def _learning_rate(found: dict[str, runs.Run]) -> Conclusion:
    claim = Conclusion("0.01 might be a high learning rate for CIFAR-100 Arch 1", "§6.2", "", "not tested yet")
    high, low = _by_preset(found, "cifar-arch1-lr0.01"), _by_preset(found, "cifar-arch1-lr0.0001")
    if high is None or low is None:
        return claim
    a_high, a_low = _accuracy(high), _accuracy(low)
    stuck = reading.read_run(high.history(), high.config)[0].kind == "not learning"
    finding = (f"At 0.01 the network {'did not learn at all' if stuck else 'learned'}: {fmt.pct(a_high[0])} on the test "
               f"set, where chance is 1 %; at 0.0001 it reached {fmt.pct(a_low[0])}. The report still got 30 % at 0.01, "
               "with a batch size and pixel scaling it does not state.")
    return Conclusion(claim.claim, claim.where, finding, "supported" if a_low[0] > a_high[0] else "not supported",
                      [high.id, low.id])


def _at_epoch(run: runs.Run, epoch: int, column: str) -> float | None:
    h = run.history()
    rows = h[h["epoch"] == epoch]
    return None if rows.empty else float(rows[column].iloc[0])


def _residual(found: dict[str, runs.Run]) -> Conclusion:
    claim = Conclusion("Residual blocks speed up training, not validation", "§5.2.3, §6.2", "", "not tested yet")
    deep, residual = _by_preset(found, "cifar-arch2"), _by_preset(found, "cifar-arch3")
    if deep is None or residual is None:
        return claim
    train_deep, train_res = _at_epoch(deep, 15, "accuracy"), _at_epoch(residual, 15, "accuracy")
    best_deep, best_res = (float(r.history()["val_accuracy"].max()) for r in (deep, residual))
    faster = train_res is not None and train_deep is not None and train_res > train_deep
    close = abs(best_res - best_deep) < 0.05
    finding = (f"After 15 epochs Arch 3 (residual and bottleneck) reached {fmt.pct(train_res)} training accuracy, Arch 2 "
               f"(nine plain convolutions) {fmt.pct(train_deep)}; their best validation accuracy is {fmt.pct(best_res)} "
               f"and {fmt.pct(best_deep)}. The report's Arch 3 rose to 90 % training accuracy in 15 epochs; this one, "
               "with the L2 the report does not state, climbs more slowly.")
    verdict = "supported" if faster and close else "partly" if faster or close else "not supported"
    return Conclusion(claim.claim, claim.where, finding, verdict, [deep.id, residual.id])


def judged(a: CurvePoint, b: CurvePoint, by_id: dict[str, runs.Run]) -> tuple[str, str] | None:
    """Run `a` against run `b` by the rule of every page (McNemar's test on the test images both were scored on,
    core.analysis.versus): "really better", "really worse" or "not shown to differ", and the p-value in words; None
    where they cannot be paired."""
    try:
        result = versus(by_id[a.run_id], by_id[b.run_id])
    except runs.RunError:
        return None
    if result.paired is None:
        return None
    verdict = ("not shown to differ" if not result.differs else
               "really better" if a.accuracy > b.accuracy else "really worse")
    return verdict, fmt.p_value(result.paired.p_value)


def against_scratch(points: list[CurvePoint], by_id: dict[str, runs.Run]) -> list[tuple[CurvePoint, str, str]]:
    """Each transferred point of a per-class curve judged against the run from scratch with as many images per class:
    (the point, its verdict, the p-value in words), where the two can be paired."""
    scratch = {p.per_class: p for p in points if p.start == START_WORDS[None]}
    out = []
    for p in points:
        if p.start != START_WORDS[None] and p.per_class in scratch and (found := judged(p, scratch[p.per_class], by_id)):
            out.append((p, *found))
    return out


def _really_better(better: CurvePoint, worse: CurvePoint, by_id: dict[str, runs.Run]) -> tuple[bool, str]:
    """Whether run `better` is really more accurate than run `worse` (judged), and the p-value in words ("" where they
    cannot be paired)."""
    found = judged(better, worse, by_id)
    return (found[0] == "really better", found[1]) if found else (False, "")


def _curve_claims(candidates: list[runs.Run]) -> list[Conclusion]:
    more = Conclusion("More images per class would help", "§5.2.3, §6.2, §7", "", "not tested yet")
    transfer = Conclusion("Transfer learning from a network trained on more data would help", "§7", "", "not tested yet")
    points = per_class_curve(candidates)
    by_id = {r.id: r for r in candidates}
    scratch = [p for p in points if p.start == START_WORDS[None]]
    if len(scratch) >= 2:
        first, last = scratch[0], scratch[-1]
        real, p_words = _really_better(last, first, by_id)
        more = Conclusion(more.claim, more.where, (
            f"From scratch, on CIFAR-100's other 50 classes: {fmt.pct(first.accuracy)} with {first.per_class} images per "
            f"class, {fmt.pct(last.accuracy)} with {last.per_class} (95 % intervals "
            f"{fmt.interval(first.low, first.high)} and {fmt.interval(last.low, last.high)}"
            + (f"; McNemar's test on the same test images: {p_words}" if p_words else "") + ")."),
            "supported" if real else "not supported", [p.run_id for p in scratch])
    pairs = [(s, t) for s in scratch for t in points if t.start == START_WORDS["fine_tune"] and t.per_class == s.per_class]
    if pairs:
        tested = [(s, _really_better(t, s, by_id)) for s, t in pairs]
        better = [s.per_class for s, (real, _) in tested if real]
        frozen = {p.per_class: p for p in points if p.start == START_WORDS["frozen"]}
        words = "; ".join(f"{s.per_class} per class: {fmt.pct(s.accuracy)} from scratch, {fmt.pct(t.accuracy)} fine-tuned"
                          + (f", {fmt.pct(frozen[s.per_class].accuracy)} with frozen features" if s.per_class in frozen
                             else "")
                          for s, t in pairs)
        tests = ", ".join(f"{s.per_class} per class {p_words}" for s, (_, p_words) in tested if p_words)
        transfer = Conclusion(transfer.claim, transfer.where, (
            f"Starting from the network trained on the first 50 classes (no image of these): {words}. Fine-tuned "
            f"really beats from scratch at {len(better)} of {len(pairs)} sizes (McNemar's test on the same test images"
            + (f": {tests}" if tests else "") + ")."),
            "supported" if len(better) == len(pairs) else "partly" if better else "not supported",
            [x.run_id for pair in pairs for x in pair] + [frozen[s.per_class].run_id for s, _ in pairs
                                                          if s.per_class in frozen])
    return [more, transfer]


def conclusions(candidates: list[runs.Run]) -> list[Conclusion]:
    """Each of the report's conclusions beside what the runs show (shipped or trained here; reproductions only for
    the trials, every run with results for the curve of images per class)."""
    found = reproductions(candidates)
    return [_regularization(found), _learning_rate(found), _residual(found), *_curve_claims(candidates)]
