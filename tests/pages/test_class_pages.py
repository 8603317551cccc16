"""A classroom with sign-in (CLASSROOM_INSTRUCTOR_PASSWORD set): students, the instructor, assignments, the board."""

from __future__ import annotations

import pytest
from run_factory import fashion_run, reproduce, texts

from core import classroom
from core.classroom import Identity
from core.queue.queue import Queue
from core.storage import runs
from ui import session

PASSWORD = "teach-me"


@pytest.fixture
def classroom_on(dirs, monkeypatch):
    monkeypatch.setenv("CLASSROOM_INSTRUCTOR_PASSWORD", PASSWORD)
    session.settings.cache_clear()
    return dirs


def signed_in(at, identity: Identity):
    """A browser presenting a valid signed identity (what the cookie or this session holds); a student's account
    is made first, as their first sign-in would."""
    runs_dir = session.settings().runs_dir
    if not identity.instructor and identity.name not in classroom.students(runs_dir):
        classroom.sign_in(runs_dir, identity.name, "2468")
    stamp = classroom.stamp(runs_dir, identity, PASSWORD)
    at.session_state["app.token"] = classroom.token_for(identity, classroom.secret(runs_dir), stamp=stamp)
    return at


def test_training_needs_a_sign_in_and_a_students_job_is_theirs(classroom_on, app, open_page):
    at = open_page(app, "pages/train.py")
    assert "Sign in to train a network" in texts(at.info)
    assert not [b for b in at.button if b.key == "train.submit"]  # no Train before signing in
    form = at.text_input(key="app.name")
    form.set_value("Ann")
    at.text_input(key="app.pin").set_value("2468")
    at.button[0].click().run()  # the student form's Sign in
    assert "Signed in" not in texts(at.error)
    at.switch_page("pages/train.py").run()
    at.button(key="train.submit").click().run()
    (job,) = Queue(classroom_on["runs"]).jobs()
    assert job.owner == "Ann" and job.spec.owner == "Ann"


def test_a_forged_identity_is_signed_out(classroom_on, app, open_page):
    at = signed_in(app, Identity("Ann"))
    token = at.session_state["app.token"]
    at.session_state["app.token"] = token[:-2] + ("aa" if not token.endswith("aa") else "bb")  # a signature edited by hand
    at = open_page(at, "pages/train.py")
    assert not [b for b in at.button if b.key == "train.submit"]


def test_a_student_cannot_change_another_students_run_even_with_a_forged_click(classroom_on, make_app, open_page):
    theirs = fashion_run(classroom_on["runs"], "bob's run", range(0, 10), 1)
    runs.update_record(theirs, owner="Bob")
    at = open_page(signed_in(make_app(), Identity("Ann")), "pages/compare.py")
    assert at.button(key="compare.rename").disabled and "**Bob**'s: only they and the instructor" in texts(at.info)
    at.button(key="compare.rename")._value = True  # a hand-made websocket message clicking anyway
    at.text_input(key=f"compare.name_{theirs.name}")._value = "mine now"
    at.run()
    assert runs.read_run(theirs).name == "bob's run"
    teacher = open_page(signed_in(make_app(), classroom.Identity("Instructor", "instructor")), "pages/compare.py")
    assert not teacher.button(key="compare.rename").disabled



def test_a_signed_out_browser_changes_nobodys_run_even_with_a_forged_click(classroom_on, make_app, open_page):
    theirs = fashion_run(classroom_on["runs"], "bob's run", range(0, 10), 1)
    runs.update_record(theirs, owner="Bob")
    at = open_page(make_app(), "pages/compare.py")  # nobody signed in
    assert at.button(key="compare.rename").disabled
    at.button(key="compare.rename")._value = True
    at.text_input(key=f"compare.name_{theirs.name}")._value = "anyone's now"
    at.run()
    assert runs.read_run(theirs).name == "bob's run"


def test_the_instructor_sets_the_rules_and_a_student_is_held_to_them(classroom_on, make_app, open_page):
    teacher = open_page(signed_in(make_app(), Identity("Instructor", "instructor")), "pages/classroom.py")
    assert "Rules for the class" in [s.value for s in teacher.subheader]
    teacher.number_input[0].set_value(1)  # runs waiting or training per student
    [save] = [b for b in teacher.button if "Save the rules" in str(b.label)]
    save.click().run()
    assert classroom.rules(classroom_on["runs"]).max_queued == 1
    student = open_page(signed_in(make_app(), Identity("Ann")), "pages/train.py")
    student.button(key="train.submit").click().run()
    student.switch_page("pages/train.py").run()
    assert student.button(key="train.submit").disabled  # one run at a time per browser anyway
    queue = Queue(classroom_on["runs"], classroom.ClassPolicy(classroom_on["runs"]))
    with pytest.raises(classroom.ClassroomError, match="the class allows 1"):
        queue.submit(queue.jobs()[0].spec, "Ann", actor=Identity("Ann"))


def test_the_board_ranks_the_students_best_runs_for_the_assignment(classroom_on, app, open_page):
    a = classroom.save_assignment(classroom_on["runs"], Identity("Instructor", "instructor"),
                                  {"title": "Dropout", "preset": "fmnist-arch1-tr1", "allowed": {"dropout": [0.0, 0.5]}})
    for owner, wrong, minute in (("Ann", 10, 1), ("Bob", 60, 2)):
        path = fashion_run(classroom_on["runs"], f"{owner}'s", range(0, wrong), minute, dropout=0.2)
        runs.update_record(path, owner=owner, assignment=a.id, preset="fmnist-arch1-tr1")
    at = open_page(app, "pages/board.py")
    table = at.table[0].value
    assert table["Student"].tolist() == ["Ann", "Bob"] and table["Versus the leader"].tolist() == ["leader", "behind"]
    assert table["Changed"].tolist()[0].startswith("dropout 0.2")


def test_an_empty_board_says_how_an_assignment_comes_to_be_with_sign_in_and_without(classroom_on, app, make_app,
                                                                                      open_page, monkeypatch):
    assert texts(open_page(app, "pages/board.py").info) == "No assignment yet: the instructor sets one on the class page."
    monkeypatch.delenv("CLASSROOM_INSTRUCTOR_PASSWORD")
    session.settings.cache_clear()
    without = texts(open_page(make_app(), "pages/board.py").info)
    assert without.endswith("on the class page, once the dashboard runs with an instructor password.")


def test_a_student_picking_an_assignment_gets_its_preset_shortened_to_the_budget_and_can_train_it(classroom_on, app,
                                                                                                   open_page):
    a = classroom.save_assignment(classroom_on["runs"], Identity("Instructor", "instructor"),
                                  {"title": "Dropout", "preset": "fmnist-arch1-tr1", "allowed": {"dropout": [0.0, 0.5]},
                                   "epoch_budget": 3})
    at = open_page(signed_in(app, Identity("Ann")), "pages/train.py")
    at.selectbox(key="train.assignment").set_value(a.id).run()
    assert at.slider(key="cfg.epochs").value == 3 and at.slider(key="cfg.epochs").disabled
    assert not [w for w in at.warning if "For this assignment" in str(w.value)]
    assert "The assignment shortens the trial to fit its epoch budget" in texts(at.caption)
    at.button(key="train.submit").click().run()
    (job,) = Queue(classroom_on["runs"]).jobs()
    assert job.spec.config.epochs == 3 and job.spec.assignment == a.id


def test_the_report_names_whose_run_reproduced_a_trial(classroom_on, make_app, open_page):
    runs.update_record(reproduce(classroom_on["runs"], "fmnist-arch2-tr1"), owner="Bob")
    ann = open_page(signed_in(make_app(), Identity("Ann")), "pages/report.py")
    assert "Reproduced by Bob's run" in texts(ann.caption) and "your run" not in texts(ann.caption)
    bob = open_page(signed_in(make_app(), Identity("Bob")), "pages/report.py")
    assert "Reproduced by your run" in texts(bob.caption)
