"""The class board, for the projector: every student's best run for an assignment, ranked by test accuracy with
its interval; runs that cannot be told apart from the leader's are marked; the curves of the runs training now;
what the top runs changed. It refreshes by itself."""

import pandas as pd
import streamlit as st

from core import classroom
from core import formatting as fmt
from core.storage import runs
from ui import identity, navigation
from ui.curves import curves
from ui.session import all_runs, readable_jobs, settings

REFRESH_S = 10
navigation.ensure_entry()

st.title("Class board")
found = classroom.assignments(settings().runs_dir)
if not found:
    st.info("No assignment yet: the instructor sets one on the class page"
            + ("." if identity.enabled() else ", once the dashboard runs with an instructor password."),
            icon=":material/assignment:")
    st.stop()
by_id = {a.id: a for a in found}
chosen = by_id[st.selectbox("Assignment", list(by_id), format_func=lambda i: by_id[i].title, key="board.assignment")]


@st.fragment(run_every=REFRESH_S)
def board() -> None:
    standings = classroom.leaderboard(all_runs(), chosen)
    if not standings:
        st.caption("No finished run for this assignment yet.")
    else:
        leader = standings[0]
        st.table(pd.DataFrame([{
            "#": i, "Student": s.owner, "Run": s.run.name, "Test accuracy": fmt.pct(s.accuracy),
            "95 % interval": fmt.interval(s.low, s.high),
            "Versus the leader": "leader" if s is leader else ("behind" if s.distinguishable else "not distinguishable"),
            "Changed": ", ".join(f"{k.replace('_', ' ')} {fmt.setting(k, v)}" for k, (_, v) in s.changed.items()) or "nothing",
        } for i, s in enumerate(standings, start=1)]).set_index("#"))
        st.caption("Not distinguishable: its 95 % interval overlaps the leader's, so on this test set the two cannot be "
                   "told apart. Each student's best finished run counts.")
    training = [j for j in readable_jobs(active_only=True) if j.status == "running" and j.spec.assignment == chosen.id]
    if training:
        st.subheader("Training now")
        for column, job in zip(st.columns(min(3, len(training))), training[:3]):
            with column:
                st.markdown(f"**{fmt.text(job.owner)}** · {fmt.text(job.name)}")
                curves(runs.open_live(job.run_dir).history(), job.spec.config.epochs)


board()
st.caption(f"Refreshes every {REFRESH_S} s.")
