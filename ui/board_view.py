"""The class board's live chart: every training student's validation curve on one chart, for the projector."""

from __future__ import annotations

import altair as alt
import pandas as pd
from natsort import natsorted, ns

from core.queue.jobs import Job
from core.storage import runs
from ui import runs_view


def shown_names(owners: list[str], with_names: bool) -> dict[str, str]:
    """How each student is named on the projected board: their name, or "Student 1", "Student 2"… in a fixed order
    when the class's rules keep names off the board. The order is a person's (student2 before student10)."""
    unique = natsorted(set(owners), alg=ns.IGNORECASE)
    return {o: o if with_names else f"Student {i}" for i, o in enumerate(unique, start=1)}


def live_frame(training: list[Job], names: dict[str, str]) -> pd.DataFrame:
    """Epoch, validation accuracy (%), student and run of every epoch finished so far by the runs training now."""
    rows = []
    for job in training:
        history = runs.open_live(job.run_dir).history()
        if "val_accuracy" not in history:
            continue
        for epoch, value in zip(history["epoch"], history["val_accuracy"]):
            rows.append({"epoch": int(epoch), "validation accuracy": float(value) * 100, "student": names[job.owner],
                         "run": job.name})
    return pd.DataFrame(rows, columns=["epoch", "validation accuracy", "student", "run"])


def live_chart(frame: pd.DataFrame) -> alt.Chart:
    """The students in the legend in a person's order (Student 2 before Student 10), not Vega's text order."""
    colour = alt.Color("student:N", title=None, legend=alt.Legend(orient="right", labelLimit=220),
                       scale=alt.Scale(scheme="tableau20"), sort=natsorted(frame["student"].unique(), alg=ns.IGNORECASE))
    chart = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("validation accuracy:Q", title="Validation accuracy (%)", scale=alt.Scale(zero=False)),
        color=colour, detail="run:N", tooltip=["student", "run", "epoch", alt.Tooltip("validation accuracy:Q", format=".1f")])
    return runs_view.styled(chart.properties(height=420, title="Validation accuracy, as each run trains"))
