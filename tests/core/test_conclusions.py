"""core.analysis.conclusions: the report's conclusions beside what the runs show, and accuracy against images per class."""

from __future__ import annotations

from pathlib import Path

from core.analysis import conclusions
from core.storage import listing
from tools.fake_runs import per_class_run

PRETRAINED = Path(__file__).resolve().parents[2] / "pretrained"


def test_accuracy_against_images_per_class_is_one_point_per_size_and_start_sorted(tmp_path):
    for minute, (per_class, start, right) in enumerate([(10, None, 20), (10, "fine_tune", 45), (100, None, 40),
                                                        (100, "fine_tune", 70), (100, "frozen", 55)]):
        per_class_run(tmp_path, per_class, start, right, minute)
    points = conclusions.per_class_curve(listing.list_runs(tmp_path, pretrained_dir=None))
    assert [(p.per_class, p.start, round(p.accuracy, 2)) for p in points] == [
        (10, "from scratch", 0.2), (10, "fine-tuned", 0.45), (100, "from scratch", 0.4), (100, "fine-tuned", 0.7),
        (100, "frozen features", 0.55)]
    assert all(p.low < p.accuracy < p.high for p in points)
    more, transfer = conclusions.conclusions(listing.list_runs(tmp_path, pretrained_dir=None))[-2:]
    assert more.verdict == "supported" and "20.0% with 10 images per class, 40.0% with 100" in more.finding
    assert transfer.verdict == "supported" and len(transfer.run_ids) == 5
    assert "100 per class: 40.0% from scratch, 70.0% fine-tuned, 55.0% with frozen features" in transfer.finding


def test_transfer_is_judged_by_the_paired_test_of_every_page_not_by_overlapping_intervals(tmp_path):
    # 100 test images: 40 % and 48 % have overlapping 95 % intervals, but the fine-tuned run is right on 8 more
    # images and wrong on none more (McNemar's exact p = 0.008); 20 % and 22 % differ on 2 images only.
    for minute, (per_class, start, right) in enumerate([(10, None, 20), (10, "fine_tune", 22), (100, None, 40),
                                                        (100, "fine_tune", 48)]):
        per_class_run(tmp_path, per_class, start, right, minute)
    points = conclusions.per_class_curve(listing.list_runs(tmp_path, pretrained_dir=None))
    scratch, tuned = points[2], points[3]
    assert tuned.low < scratch.high, "the intervals overlap"
    transfer = conclusions.conclusions(listing.list_runs(tmp_path, pretrained_dir=None))[-1]
    assert transfer.verdict == "partly"
    assert "really beats from scratch at 1 of 2 sizes" in transfer.finding
    assert "10 per class p = 0.5" in transfer.finding and "100 per class p = 0.0078" in transfer.finding
    more = conclusions.conclusions(listing.list_runs(tmp_path, pretrained_dir=None))[-2]
    assert more.verdict == "supported" and "McNemar's test on the same test images: p < 0.0001" in more.finding


def test_each_transferred_run_is_judged_against_the_run_from_scratch_of_its_size(tmp_path):
    # Right on the first N of the same 100 images: 48 against 40 differ on 8 images (p = 0.008), 10 against 40 on 30,
    # 41 against 40 on one.
    for minute, (per_class, start, right) in enumerate([(100, None, 40), (100, "fine_tune", 48), (100, "frozen", 41),
                                                        (10, None, 20), (10, "fine_tune", 10)]):
        per_class_run(tmp_path, per_class, start, right, minute)
    listed = listing.list_runs(tmp_path, pretrained_dir=None)
    judged = conclusions.against_scratch(conclusions.per_class_curve(listed), {r.id: r for r in listed})
    assert [(p.per_class, p.start, verdict, p_words) for p, verdict, p_words in judged] == [
        (10, "fine-tuned", "really worse", "p = 0.002"),
        (100, "fine-tuned", "really better", "p = 0.0078"),
        (100, "frozen features", "not shown to differ", "p = 1")]


def test_runs_that_do_not_differ_in_images_per_class_draw_no_curve(tmp_path):
    per_class_run(tmp_path, 100, None, 40, 1)
    per_class_run(tmp_path, 100, "fine_tune", 70, 2)
    assert conclusions.per_class_curve(listing.list_runs(tmp_path, pretrained_dir=None)) == []
    assert [c.verdict for c in conclusions.conclusions(listing.list_runs(tmp_path, pretrained_dir=None))] == [
        "not tested yet"] * 5


def test_the_shipped_runs_support_every_conclusion_of_the_report():
    found = conclusions.conclusions(listing.list_runs(PRETRAINED / "none", PRETRAINED))
    regularization, learning_rate, residual = found[:3]
    assert regularization.verdict == "supported" and "overfits from epoch 9" in regularization.finding
    assert learning_rate.verdict == "supported" and "did not learn at all: 1.0% on the test set" in learning_rate.finding
    assert residual.verdict == "supported" and "45.7% training accuracy, Arch 2 (nine plain convolutions) 28.5%" in (
        residual.finding)
    more, transfer = found[3:]
    assert more.verdict == "supported" and "7.2% with 10 images per class, 70.0% with 475" in more.finding
    assert transfer.verdict == "supported" and "10 per class: 7.2% from scratch, 25.9% fine-tuned, 38.2% with frozen " \
        "features" in transfer.finding
    assert "475 per class: 70.0% from scratch, 72.0% fine-tuned, 57.7% with frozen features" in transfer.finding
    assert "really beats from scratch at 4 of 4 sizes" in transfer.finding and "475 per class p = 0.00016" in (
        transfer.finding)
