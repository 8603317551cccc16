"""The class: sign in, the assignments, everyone's queue live; and, for the instructor, editing the assignments,
stopping anyone's run, the class's rules, pausing training, clearing the queue and resetting a PIN."""

import streamlit as st

from core import classroom
from ui import classroom_view, identity, navigation
from ui.session import settings

navigation.ensure_entry()

st.title("The class")
if not identity.enabled():
    st.info("This dashboard runs without sign-in: everyone who reaches it is the same user. For a class, start it with "
            "an instructor password (`CLASSROOM_INSTRUCTOR_PASSWORD=... make run`, or `instructor_password` in "
            "`.streamlit/secrets.toml`): students then sign in with a name and a PIN, and only a run's owner and the "
            "instructor can change it.", icon=":material/group:")
else:
    identity.sign_in_box()
who = identity.current()
teacher = who if who is not None and who.instructor else None
classroom_view.flash()

st.header("Assignments")
found = classroom.assignments(settings().runs_dir)
for a in found:
    classroom_view.assignment_card(a, teacher)
if not found:
    st.caption("No assignment yet.")
if teacher is not None:
    classroom_view.assignment_editor(teacher)

st.header("The queue")
classroom_view.class_queue(teacher)

if teacher is not None:
    st.header("Instructor")
    classroom_view.instructor_panel(teacher)
