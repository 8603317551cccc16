"""The class board, for the projector: every student's best run for an assignment, ranked by test accuracy with
its interval; runs that cannot be told apart from the leader's are marked; the curves of the runs training now;
what the top runs changed. It refreshes by itself."""

import pandas as pd
import streamlit as st

from core import classroom
from core import formatting as fmt
from ui import board_view, identity, navigation, runs_view
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
    class_rules = classroom.rules(settings().runs_dir)
    standings = classroom.leaderboard(all_runs(), chosen, class_rules)
    active = [j for j in readable_jobs(active_only=True) if j.spec.assignment == chosen.id]
    training = [j for j in active if j.status == "running"]
    names = board_view.shown_names([s.owner for s in standings] + [j.owner for j in training],
                                   class_rules.names_on_board)
    if not standings:
        st.caption("No finished run for this assignment yet.")
    else:
        st.table(runs_view.as_typed(pd.DataFrame([{
            "#": i, "Student": names[s.owner], "Run": s.run.name, "Test accuracy": fmt.pct(s.accuracy),
            "95 % interval": fmt.interval(s.low, s.high),
            "Versus the leader": fmt.versus(s.versus_leader, "leader", "really behind"),
            "Changed": ", ".join(f"{k.replace('_', ' ')} {fmt.setting(k, v)}" for k, (_, v) in s.changed.items()) or "nothing",
        } for i, s in enumerate(standings, start=1)]).set_index("#")))
        st.caption("Versus the leader: McNemar's test on the test images both runs were scored on, as Compare does it. "
                   "Really behind: a gap this size would rarely come by chance (p under 5 %); not shown to differ: it could. "
                   "Each student's best finished run counts.")
    if active:
        waiting = len(active) - len(training)
        if training:
            st.subheader(f"Training now: {len(training)} run{'' if len(training) == 1 else 's'}")
            if waiting:
                st.caption(f"{waiting} more waiting for a worker.")
        else:
            st.subheader(f"Waiting for a worker: {waiting} run{'' if waiting == 1 else 's'}")
        frame = board_view.live_frame(training, names)
        if frame.empty:
            st.caption("The curves appear when the first epochs are done.")
        else:
            st.altair_chart(board_view.live_chart(frame))


board()
st.caption(f"Refreshes every {REFRESH_S} s.")
