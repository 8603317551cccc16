"""Compare's table of every run: one row per run (a group of seeds as one row), sortable, searchable, ticked to
compare. The frame is a pure function of the runs; the page draws it with st.data_editor (only the tick is
editable)."""

from __future__ import annotations

import pandas as pd

from core import formatting as fmt
from core.networks.architectures import ARCHITECTURES
from core.storage import runs
from ui import runs_view
from ui.compare_view import entries

PICK = "Compare"
SHOWN = ["Name", "Whose", "Dataset", "Network", "Test acc. (%)", "95 % interval", "Best val. (%)", "Learning rate", "Batch",
         "Dropout", "L2", "Epochs", "Time", "Status", "Started", "Tags", "Notes"]


def _row(entry, whose) -> dict:
    first = entry.runs[0]
    c, m = first.config, runs_view.headline(first)
    total = sum((r.record.get("durations") or {}).get("total_s") or 0 for r in entry.runs)
    if entry.is_group:
        s = entry.seeds()
        test, interval = round(s.mean * 100, 2), f"{fmt.interval(s.low, s.high)} ({s.n} seeds)"
    else:
        test, interval = round(m["test_accuracy"] * 100, 2), fmt.accuracy_interval_text(m)
    best = entry.mean("best_val_accuracy")
    return {
        "id": entry.id, "Name": entry.label, "Whose": whose(first),
        "Dataset": runs_view.dataset_title(first.record.get("dataset")),
        "Network": ARCHITECTURES[c["architecture"]].short_title if c.get("architecture") in ARCHITECTURES else fmt.DASH,
        "Test acc. (%)": test, "95 % interval": interval, "Best val. (%)": round(best * 100, 2) if best is not None else None,
        "Learning rate": c.get("learning_rate"), "Batch": c.get("batch_size"), "Dropout": c.get("dropout"), "L2": c.get("l2"),
        "Epochs": m.get("epochs_trained"), "Time": fmt.duration(total), "Status": first.status,
        "Started": str(first.record.get("created", ""))[:10], "Tags": ", ".join(first.record.get("tags") or []),
        "Notes": first.record.get("notes") or "",
    }


def frame(listed: list[runs.Run], chosen_ids: set[str]) -> pd.DataFrame:
    """Every run with results, a group of seeds as one row (id: the group's), newest first; PICK is ticked for the
    chosen ones (a group counts as chosen when any of its seeds is)."""
    rows, whose = [], runs_view.owner_labeller()
    for entry in entries([r for r in listed if runs_view.has_results(r)]):
        row = _row(entry, whose)
        row[PICK] = entry.id in chosen_ids or any(r.id in chosen_ids for r in entry.runs)
        rows.append(row)
    return pd.DataFrame(rows, columns=["id", PICK, *SHOWN]).set_index("id")


def search(table: pd.DataFrame, text: str, dataset: str | None) -> pd.DataFrame:
    """Rows whose name, tags or notes contain every word of `text` (any case), of one dataset or all."""
    if dataset:
        table = table[table["Dataset"] == dataset]
    for word in text.lower().split():
        haystack = (table["Name"] + " " + table["Tags"] + " " + table["Notes"]).str.lower()
        table = table[haystack.str.contains(word, regex=False)]
    return table


def chosen_runs(table: pd.DataFrame, listed: list[runs.Run]) -> list[runs.Run]:
    """The runs behind the ticked rows (a group's row stands for all its seeds), in the table's order."""
    ticked = set(table.index[table[PICK]])
    return [r for r in listed if r.id in ticked or (r.record.get("group") or {}).get("id") in ticked]
