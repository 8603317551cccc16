"""The Inspect page's views: the confusion matrix (and the images behind a cell), per-class scores, a gallery.

Everything comes from the run folder (metrics.json, predictions.npz, misclassified.npz): no dataset needed.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.data.datasets import CIFAR100_COARSE, CIFAR100_FINE_TO_COARSE
from core.metrics import evaluation
from core.storage import runs
from ui import runs_view

COUNTS, SHARES = "counts", "share of each true class"
FINE, COARSE = "100 classes", "20 superclasses"
GALLERY_SIZES = (24, 48, 96)
ROW = 38  # table row height in pixels, so a table's height can fit its rows exactly


def newest_with_results(candidates: list[runs.Run]) -> str:
    """The run to show when nobody asked for one (candidates come newest first)."""
    return next((r.id for r in candidates if runs_view.has_results(r)), candidates[0].id)


def coarse_matrix(confusion: np.ndarray) -> np.ndarray:
    """The 20x20 superclass confusion matrix: sum the fine cells whose classes share superclasses."""
    onehot = np.eye(len(CIFAR100_COARSE), dtype=np.int64)[list(CIFAR100_FINE_TO_COARSE)]
    return onehot.T @ confusion @ onehot


def top_pairs(confusion: np.ndarray, names: tuple[str, ...], k: int = 10) -> list[tuple[int, int, int]]:
    """The k largest off-diagonal cells as (true, predicted, count), largest first; ties by class order."""
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.lexsort((np.arange(off.size), -off.ravel()))[:k]
    return [(int(i // len(names)), int(i % len(names)), int(off.flat[i])) for i in order if off.flat[i] > 0]


def heatmap(confusion: np.ndarray, names: tuple[str, ...], shares: bool) -> alt.Chart:
    """Class names on both axes, counts (or shares of the row) in the cells; a click selects a cell."""
    n = len(names)
    support = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, support, out=np.zeros(confusion.shape), where=support > 0)
    t, p = np.indices(confusion.shape)
    data = pd.DataFrame({"true": np.array(names)[t.ravel()], "predicted": np.array(names)[p.ravel()],
                         "count": confusion.ravel(), "share": share.ravel() * 100})
    data["value"] = data["share"] if shares else data["count"]
    cell = alt.selection_point(name="cell", fields=["true", "predicted"], on="click", empty=False)
    small = n <= 20
    label_size = 15 if n <= 10 else 13 if small else 9
    # 100 names cannot stand side by side: the columns go unlabelled (the tooltip names them).
    base = alt.Chart(data).encode(
        x=alt.X("predicted:N", sort=list(names), title="predicted class" if small else "predicted class (point at a cell)",
                axis=alt.Axis(labelAngle=-40, labelFontSize=label_size, orient="top", labelOverlap=False, labels=small)),
        y=alt.Y("true:N", sort=list(names), title="true class", axis=alt.Axis(labelFontSize=label_size, labelOverlap=False)),
    )
    rect = base.mark_rect(cursor="pointer").encode(
        # A square-root scale, so the few-but-telling mistakes are not washed out by the big diagonal.
        color=alt.Color("value:Q", scale=alt.Scale(type="sqrt", scheme="blues"),
                        title="% of row" if shares else "images", legend=alt.Legend(orient="right")),
        stroke=alt.condition(cell, alt.value("#d62728"), alt.value(None)),
        strokeWidth=alt.condition(cell, alt.value(4), alt.value(0)),
        tooltip=["true", "predicted", alt.Tooltip("count:Q", title="images"),
                 alt.Tooltip("share:Q", title="% of the true class", format=".1f")],
    ).add_params(cell)
    layers = [rect]
    if small:
        top = data["value"].max() or 1
        text = base.mark_text(fontSize=14 if n <= 10 else 11).encode(
            text=alt.Text("value:Q", format=".0f"),
            color=alt.condition(f"datum.value > {top * 0.3}", alt.value("white"), alt.value("#222")),
        ).transform_filter("datum.value > 0")
        layers.append(text)
    # The width follows the column (a fixed one ran off 1280-pixel screens); the height keeps rows readable.
    side = 54 if n <= 10 else 36 if small else 9
    return alt.layer(*layers).properties(height=side * n, width="container")


def show_images(images: np.ndarray, captions: list[str]) -> None:
    """Tiny test images enlarged with crisp pixels, in a grid that wraps."""
    if len(images):
        big = [runs_view.upscale(img) for img in images]
        st.image(big, caption=captions, width=big[0].shape[1])  # the enlarged size: no browser rescaling


def caption(names, true: int, pred: int, confidence: float) -> str:
    return f"{names[true]} → {names[pred]} · {fmt.sure(confidence)}"


def cell_caption(names, true: int, pred: int, confidence: float, coarse: bool) -> str:
    """Under a cell's heading the pair is known; a superclass cell still needs the fine classes."""
    return caption(names, true, pred, confidence) if coarse else fmt.sure(confidence)


def matrix_tab(run: runs.Run, confusion: np.ndarray, wrong: dict, names: tuple[str, ...]) -> None:
    """The confusion matrix (fine or, for CIFAR-100, superclasses), the most confused pairs, and the images of
    the cell clicked or chosen."""
    dataset = run.record["dataset"]
    controls = st.container(horizontal=True, gap="large")
    mode = controls.segmented_control("Show", [COUNTS, SHARES], default=COUNTS, required=True, key="inspect.mode")
    level = FINE
    if dataset == "cifar100" and len(names) == len(CIFAR100_FINE_TO_COARSE):  # not for half the classes
        level = controls.segmented_control("Classes", [COARSE, FINE], default=COARSE, required=True, key="inspect.level")
    coarse = level == COARSE
    to_level = np.asarray(CIFAR100_FINE_TO_COARSE) if coarse else np.arange(len(names))
    level_names = tuple(runs_view.pretty(c) for c in CIFAR100_COARSE) if coarse else names
    matrix = coarse_matrix(confusion) if coarse else confusion
    pairs = top_pairs(matrix, level_names)

    # Ten classes leave room beside the matrix for the list of pairs; CIFAR-100's long names do not.
    chart_col, pairs_col = st.columns([2.2, 1], gap="medium") if len(level_names) <= 10 else (st.container(), st.container())
    event = chart_col.altair_chart(runs_view.styled(heatmap(matrix, level_names, mode == SHARES)), on_select="rerun",
                                   selection_mode="cell", key=f"inspect.cm_{run.id}_{level}", width="stretch")
    chart_col.caption("Rows: the true class; columns: what the network said. Colour uses a square-root scale so "
                      "small confusions show. Click a cell to see its images.")
    with pairs_col:
        st.markdown("**Most confused pairs**")
        if pairs:
            st.dataframe(pd.DataFrame({"true → predicted": [f"{level_names[t]} → {level_names[p]}" for t, p, _ in pairs],
                                       "count": [c for _, _, c in pairs]}), hide_index=True,
                         width="stretch" if len(level_names) <= 10 else 720, row_height=ROW, height=ROW * (len(pairs) + 1) + 3)
        else:
            st.markdown("No mistakes at all.")

    # The chart's click and the two selectboxes pick the same cell; the selectboxes start on the top pair.
    true_key, pred_key, seen_key = (f"inspect.{part}_{run.id}_{level}" for part in ("true", "pred", "clicked"))
    if true_key not in st.session_state:
        t0, p0 = pairs[0][:2] if pairs else (0, 0)
        st.session_state[true_key], st.session_state[pred_key] = t0, p0
    clicked = (event.selection.get("cell") or [None])[0] if event else None
    if clicked and clicked.get("true") in level_names and clicked.get("predicted") in level_names:
        cell = (level_names.index(clicked["true"]), level_names.index(clicked["predicted"]))
        if st.session_state.get(seen_key) != cell:
            st.session_state[seen_key] = cell
            st.session_state[true_key], st.session_state[pred_key] = cell

    st.subheader("Images of one cell")
    pick = st.columns(2)
    t = pick[0].selectbox("True class", range(len(level_names)), format_func=lambda i: level_names[i], key=true_key)
    p = pick[1].selectbox("Predicted class", range(len(level_names)), format_func=lambda i: level_names[i], key=pred_key)
    in_cell = matrix[t, p]
    stored = np.flatnonzero((to_level[wrong["y_true"]] == t) & (to_level[wrong["y_pred"]] == p))
    stored = evaluation.worst_first(wrong, stored)
    if t == p and not coarse:
        st.success(f"This is a diagonal cell: these {in_cell:,} test images of **{level_names[t]}** were classified "
                   "correctly. A run stores only the images it gets wrong, so there are none to show here.")
    else:
        if t == p:  # a superclass diagonal holds the mix-ups inside one superclass
            right = int(sum(confusion[i, i] for i in range(len(names)) if to_level[i] == t))
            in_cell -= right
            st.markdown(f"Inside **{level_names[t]}**: {right:,} images were right; {in_cell:,} were taken for another "
                        "class of the same superclass.")
        if in_cell == 0:
            st.info(f"No test image of {level_names[t]} was predicted as {level_names[p]}.")
        else:
            shown = stored[:24]
            note = (f"all {in_cell:,} stored" if len(stored) == in_cell
                    else f"{len(stored):,} of {in_cell:,} stored (a run keeps up to 1,000 mistakes: all of the most "
                    "confused pairs' first, then the worst of every other pair)")
            st.markdown(f"**{level_names[t]} → {level_names[p]}**: {in_cell:,} test images; {note}"
                        + (f"; the {len(shown)} worst below." if len(shown) < len(stored) else "."))
            show_images(wrong["image"][shown], [cell_caption(names, wrong["y_true"][i], wrong["y_pred"][i],
                                                             wrong["confidence"][i], coarse) for i in shown])
            look_inside(run, wrong, shown, names, "cell")


def classes_tab(per_class: pd.DataFrame) -> None:
    """Precision, recall and F1 per class, worst first, as a table and as bars."""
    worst = per_class.assign(**{"class": per_class["class"].map(runs_view.pretty)}).sort_values(["f1", "class"])
    worst = worst.reset_index(drop=True)
    scores = worst[["precision", "recall", "f1"]] * 100
    table = pd.concat([worst[["class"]], scores, worst[["support"]]], axis=1)
    table_col, chart_col = st.columns([1.2, 1], gap="large")
    pct_column = lambda title, why: st.column_config.NumberColumn(title, format="%.1f%%", help=why, width="small")  # noqa: E731
    table_col.dataframe(
        table, hide_index=True, width="stretch", row_height=ROW, height=min(ROW * (len(table) + 1) + 3, 16 * ROW),
        column_config={
            "class": "Class",
            "precision": pct_column("Precision", "Of the images it called this class, the share that were."),
            "recall": pct_column("Recall", "Of the images of this class, the share it found."),
            "f1": pct_column("F1", "Harmonic mean of precision and recall."),
            "support": st.column_config.NumberColumn("Images", help="Test images of this class.", width="small"),
        },
    )
    shown = table.head(15).rename(columns={"f1": "F1"})
    long = shown.melt(id_vars="class", value_vars=["precision", "recall", "F1"], var_name="score", value_name="value")
    bars = alt.Chart(long).mark_bar().encode(
        y=alt.Y("class:N", sort=list(shown["class"]), title=None),
        yOffset=alt.YOffset("score:N", sort=["precision", "recall", "F1"]),
        x=alt.X("value:Q", title="%", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("score:N", sort=["precision", "recall", "F1"], title=None, legend=alt.Legend(orient="top")),
        tooltip=["class", "score", alt.Tooltip("value:Q", format=".1f")],
    ).properties(height=46 * len(shown),
                 title="Worst classes first" if len(worst) <= 15 else f"The {len(shown)} worst of {len(worst)} classes")
    chart_col.altair_chart(runs_view.styled(bars), width="stretch")


def look_inside(run: runs.Run, wrong: dict, shown: np.ndarray, names: tuple[str, ...], where: str) -> None:
    """Pick one of the images shown to see why the network said what it said (the Look inside views, here)."""
    from ui import explain_view

    options = [None, *(int(wrong["index"][i]) for i in shown)]
    said = {int(wrong["index"][i]): caption(names, wrong["y_true"][i], wrong["y_pred"][i], wrong["confidence"][i]) for i in shown}
    index = st.selectbox("Look inside the network for one of these images", options, key=f"inspect.inside_{where}_{run.id}",
                         format_func=lambda i: "Choose an image…" if i is None else f"Test image {i}: {said[i]}")
    if index is not None:
        explain_view.explained([run], index, where)


def gallery_tab(run: runs.Run, pred: dict, wrong: dict, names: tuple[str, ...], n_wrong: int) -> None:
    """The stored mistakes, worst first, filtered by true or predicted class."""
    filters = st.columns([2, 2, 1])
    dataset = run.record["dataset"]
    chosen = filters[0].selectbox("Class", [None, *range(len(names))], key=f"inspect.gallery_class_{dataset}",
                                  format_func=lambda i: "All classes" if i is None else names[i])
    side = filters[1].segmented_control("Class is", ["the true class", "the predicted class"], default="the true class",
                                        required=True, key="inspect.gallery_side")
    size = filters[2].selectbox("Show", GALLERY_SIZES, key="inspect.gallery_size", format_func=lambda n: f"{n} images")
    field = "y_true" if side == "the true class" else "y_pred"
    keep = np.arange(len(wrong["index"])) if chosen is None else np.flatnonzero(wrong[field] == chosen)
    keep = evaluation.worst_first(wrong, keep)
    total = n_wrong if chosen is None else int(np.sum((pred[field] == chosen) & (pred["y_true"] != pred["y_pred"])))
    what = "" if chosen is None else f" with {names[chosen]} as {side}"
    st.markdown(f"**{total:,} mistakes{what}**; {len(keep):,} stored with their images. "
                "Worst first: the images whose true class got the lowest probability.")
    show_images(wrong["image"][keep[:size]], [caption(names, wrong["y_true"][i], wrong["y_pred"][i], wrong["confidence"][i])
                                              for i in keep[:size]])
    look_inside(run, wrong, keep[:size], names, "gallery")


def inside_tab(run: runs.Run, listed: list[runs.Run], pred: dict, names: tuple[str, ...]) -> None:
    """Any test image of this run explained, alone or beside another run of the same dataset."""
    from ui import explain_view

    n = len(pred["y_true"])
    pick, klass, other = st.columns([1, 1.4, 2])
    index = pick.number_input("Test image", 0, n - 1, key="inspect.image",
                              help="Any test image, by its number; or choose a class for its first image.")
    wanted = klass.selectbox("or the first image of", [None, *range(len(names))], key="inspect.image_class",
                             format_func=lambda c: "a class…" if c is None else names[c])
    if wanted is not None:
        index = int(np.flatnonzero(pred["y_true"] == wanted)[0])
    peers = {r.id: r for r in listed if r.id != run.id and runs_view.has_results(r)
             and r.record.get("dataset") == run.record.get("dataset")}
    labels = {None: "no other run", **runs_view.run_options(list(peers.values()))}
    second = other.selectbox("Beside another run (the same image)", [None, *peers], key="inspect.second",
                             format_func=labels.__getitem__)
    explain_view.explained([run] + ([peers[second]] if second else []), int(index), "tab")


def map_tab(run: runs.Run) -> None:
    from ui import explain_view

    labels = {"pca": "PCA (fast, linear)", "tsne": "t-SNE (slower, keeps neighbours)"}
    method = st.segmented_control("Projection", list(labels), default="pca", required=True, key="inspect.map_method",
                                  format_func=labels.get)
    explain_view.test_map(run, method)
