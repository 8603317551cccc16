"""The report's own numbers (§5, Tables 2–9, and the abstract's interval) beside the runs that reproduce them.

A reproduction is a finished run with exactly the trial's settings; other runs of a trial are listed apart.
"""

import streamlit as st

from core.analysis import conclusions, reproduction
from core.networks.presets import PRESETS
from ui import compare_stats, navigation, report_view, runs_view
from ui.session import all_runs

navigation.ensure_entry()

st.title("The report, reproduced")
best = next(p for p in PRESETS.values() if p.report.test_error_ci95)
low, high = best.report.test_error_ci95
st.markdown("The homework report *Classifying Fashion MNIST + CIFAR-100* (CSCE 479/879, 2022) trained each network once. "
            "Here are the numbers it printed (§5, Tables 2–9) beside runs of the same settings. The report's only "
            f"interval is for its best model ({best.short_title}): a 95 % interval of **({low:.4f}, {high:.4f})** for "
            f"the test error, that is **{(1 - high) * 100:.1f}–{(1 - low) * 100:.1f}%** test accuracy.")
listed = all_runs()
found = reproduction.reproductions(listed)
variants = reproduction.variants(listed, found)
st.caption(f"{len(found)} of {len(PRESETS)} trials reproduced: a reproduction is the newest finished run with exactly "
           "the trial's settings, shipped or trained here; runs that changed a setting, and imported runs, are listed "
           "under their trial as variants. Losses include the L2 penalty, whose strength the report never states, so "
           "compare them loosely.")
if found:
    # The second chart drops the trial names: both list the trials in the same order, row for row.
    names_col, other_col = st.columns([1.45, 1], gap="medium")
    names_col.altair_chart(runs_view.styled(report_view.overview_chart(found, "Training accuracy", "train_accuracy", True)))
    other_col.altair_chart(runs_view.styled(report_view.overview_chart(found, "Validation accuracy", "val_accuracy", False)))

st.header("What the report concluded, tested")
st.markdown("The report drew five conclusions from its runs; two of them (more images per class, transfer learning) it "
            "could not test. Here each stands beside what the shipped runs, and any trained here, show.")
report_view.conclusions_section(conclusions.conclusions(listed))
compare_stats.per_class_section(listed)  # the last two conclusions as one picture, to project

for dataset in ("fashion_mnist", "cifar100"):
    st.header(runs_view.dataset_title(dataset))
    trials = [p for p in PRESETS.values() if p.config.dataset == dataset]
    for start in range(0, len(trials), 2):
        for column, preset in zip(st.columns(2, gap="medium"), trials[start:start + 2]):
            attempts = [r for r in listed if r.record.get("preset") == preset.id and r.status in ("running", "failed")]
            with column:
                report_view.trial_card(preset, found.get(preset.id), variants.get(preset.id, []), attempts)
