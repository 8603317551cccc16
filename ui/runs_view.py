"""Showing runs on any page: cached run reading, labels, status notices, picture and chart style.

Everything comes from run folders (docs/run-format.md); nothing here imports Keras. Reads are cached
by file path and modification time, so a renamed or re-imported run is never shown stale.
"""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.analysis import reading
from core.data.datasets import DATASET_INFO
from core.networks.config import FIELDS
from core.networks.config import class_names as config_class_names
from core.storage import runs
from core.system.memo import FileMemo, mtimes

# --- cached reading -----------------------------------------------------------------------------

# The leading underscore keeps Streamlit from hashing the Run; the folder and file time are the key.
@st.cache_data(max_entries=256, show_spinner=False)
def _read(_run: runs.Run, what: str, folder: str, stamp: tuple):
    return getattr(_run, what)()


def _cached(run: runs.Run, what: str, filename: str):
    return _read(run, what, str(run.path), mtimes(run.path / filename))


def metrics(run: runs.Run) -> dict:
    return _cached(run, "metrics", runs.METRICS_FILE)


_HEADLINES = FileMemo(limit=5000)  # a few KB each: a big class's runs, a few times over


def headline(run: runs.Run) -> dict:
    """A run's metrics without its per-class tables, for the pages that list many runs. Kept in this process
    (not st.cache_data, which copies every value on every call) by folder and metrics.json's time; callers
    must not change the dict. Raises RunError for unreadable metrics."""
    return _HEADLINES.get(str(run.path), mtimes(run.path / runs.METRICS_FILE), run.headline)


def history(run: runs.Run) -> pd.DataFrame:
    return _cached(run, "history", runs.HISTORY_FILE)


def predictions(run: runs.Run) -> dict[str, np.ndarray]:
    return _cached(run, "predictions", runs.PREDICTIONS_FILE)


def mistakes(run: runs.Run) -> dict[str, np.ndarray]:
    return _cached(run, "misclassified", runs.MISCLASSIFIED_FILE)


def has_results(run: runs.Run) -> bool:
    """Whether the run wrote readable results (a cancelled run may have stopped before writing them)."""
    if not run.has_results:
        return False
    try:
        headline(run)
    except runs.RunError:
        return False
    return True


# --- words and numbers --------------------------------------------------------------------------

def owner_labeller() -> Callable[[runs.Run], str]:
    """owner() for many runs: who is looking is asked once (a lookup of Streamlit's secrets each time, without
    a secrets file, cost a 500-run table a tenth of a second)."""
    from ui import identity

    me = identity.owner() if identity.enabled() else None

    def whose(run: runs.Run) -> str:
        if run.shipped:
            return "shipped"
        recorded = run.record.get("owner")
        return "yours" if me is None or recorded in (None, me) else str(recorded)

    return whose


def owner(run: runs.Run) -> str:
    """Whose a run is, as this browser says it: shipped, yours, or (in a class with sign-in) the student's name."""
    return owner_labeller()(run)


def dataset_title(dataset: str | None) -> str:
    return DATASET_INFO[dataset].title if dataset in DATASET_INFO else str(dataset or "unknown dataset")


def pretty(name: str) -> str:
    """CIFAR-100's names read better without underscores ("aquarium fish", "large man-made outdoor things")."""
    return name.replace("_", " ")


def class_names(run: runs.Run) -> tuple[str, ...]:
    return tuple(pretty(n) for n in config_class_names({"dataset": run.record["dataset"], **run.config}))


def what_the_curves_say(run: runs.Run) -> None:
    """The run's curves read in words (core.analysis.reading), in a box: what happened, on which figures, what to try."""
    try:
        findings = [f for f in reading.read_run(history(run), run.config, headline(run), run.record) if f.kind != "test"]
    except runs.RunError:
        return
    if findings:
        with st.container(border=True):
            st.markdown("**What the curves say** · " + " ".join(f.text for f in findings))


def as_typed(frame: pd.DataFrame) -> pd.DataFrame:
    """A table for st.table, which draws its cells, headers and index as Markdown: every text in it escaped, so that
    a run's name or a student's shows as typed (st.dataframe needs no such care: it never formats)."""
    def escaped(value):
        return fmt.text(value) if isinstance(value, str) else value

    out = frame.map(escaped)
    out.columns = [escaped(c) for c in frame.columns]
    out.index = pd.Index([escaped(i) for i in frame.index], name=escaped(frame.index.name))
    return out


def run_options(listed: list[runs.Run]) -> dict[str, str]:
    """Run id -> a selectbox label: name, whose, and the test accuracy or the status (plain text: Streamlit
    shows options as typed)."""
    whose, labels = owner_labeller(), {}
    for run in listed:
        if has_results(run):
            tail = f"test {fmt.pct(headline(run).get('test_accuracy'))}"
            if run.status == "cancelled":
                tail += " (cancelled)"
        else:
            tail = run.status
        labels[run.id] = f"{run.name} · {whose(run)} · {tail}"
    return labels


def field_label(name: str) -> str:
    return FIELDS[name].metadata["help"] if name in FIELDS else name


def status_notice(run: runs.Run) -> None:
    """Say plainly why a run has no results to show (running, failed, broken)."""
    if run.problem:
        st.error(f"**This run folder is broken:** {fmt.text(run.problem)}. Delete it on the Compare page, or copy the "
                 f"missing files back into `{run.path}`.", icon=":material/broken_image:")
    elif run.status == "running":
        progress = run.progress()
        if progress.get("epochs"):
            st.info(f"**Still training:** epoch {progress.get('epoch', 0)} of {progress['epochs']}. "
                    "Results appear here when it finishes.", icon=":material/hourglass_top:")
        else:
            st.info("**Still training.** Results appear here when it finishes.", icon=":material/hourglass_top:")
    elif run.status == "failed":
        st.error(f"**This run failed:** {fmt.text(run.record.get('error') or 'no reason was recorded')}",
                 icon=":material/error:")
    elif run.status == "cancelled":
        st.warning("**This run was cancelled** before it wrote its results.", icon=":material/cancel:")


# --- pictures -------------------------------------------------------------------------------------

def upscale(image: np.ndarray, size: int = 160) -> np.ndarray:
    """Nearest-neighbour enlargement (crisp pixels on a projector, no browser blur); grey images lose their channel axis."""
    factor = max(1, size // image.shape[0])
    big = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
    return big[..., 0] if big.ndim == 3 and big.shape[2] == 1 else big


def vega_spec(chart: alt.TopLevelMixin) -> dict:
    """The chart as a Vega-Lite spec for st.vega_lite_chart, without the size defaults of Altair's theme
    (st.altair_chart leaves them out too): a spec can be kept, where building an Altair chart costs every rerun."""
    spec = chart.to_dict()
    view = spec.get("config", {}).get("view", {})
    for key in ("continuousWidth", "continuousHeight"):
        view.pop(key, None)
    if "view" in spec.get("config", {}) and not view:
        del spec["config"]["view"]
    return spec


def styled(chart: alt.TopLevelMixin, fit_width: bool = True) -> alt.TopLevelMixin:
    """Large type for the back row of a classroom. With fit_width the width fills the column; the height set
    on the chart is the plot's own (Streamlit's default "fit" squeezes the plot to make room for legends)."""
    if fit_width:
        chart = chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    else:
        chart = chart.properties(autosize=alt.AutoSizeParams(type="pad"))
    return (chart.configure_axis(labelFontSize=15, titleFontSize=16, labelLimit=320)
            .configure_legend(labelFontSize=15, titleFontSize=15, labelLimit=420, symbolSize=160)
            .configure_title(fontSize=18, anchor="start"))
