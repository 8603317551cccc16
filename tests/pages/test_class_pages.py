"""A classroom with sign-in (CLASSROOM_INSTRUCTOR_PASSWORD set): students, the instructor, assignments, the board."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from run_factory import fashion_run, reproduce, texts

from core import classroom
from core import formatting as fmt
from core.classroom import Identity
from core.networks.presets import PRESETS
from core.queue import jobs
from core.queue.queue import Queue
from core.storage import runs
from core.system.files import write_csv
from tools.fake_runs import make_history
from ui import board_view, session

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
    teacher.number_input(key="class.max_queued").set_value(1)
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
    assert table["Student"].tolist() == ["Ann", "Bob"] and table["Versus the leader"].tolist()[0] == "leader"
    assert table["Versus the leader"].tolist()[1].startswith("really behind (p ")
    assert table["Changed"].tolist()[0].startswith("dropout 0.2")


def test_the_board_and_compare_say_the_same_of_a_pair_whose_intervals_overlap(classroom_on, app, open_page):
    """Bob misses every image Ann misses and 10 more: the intervals overlap, McNemar's test sees a real gap."""
    a = classroom.save_assignment(classroom_on["runs"], Identity("Instructor", "instructor"),
                                  {"title": "Dropout", "preset": "fmnist-arch1-tr1", "allowed": {"dropout": [0.0, 0.5]}})
    made = {}
    for owner, wrong, minute in (("Ann", 10, 1), ("Bob", 20, 2)):
        made[owner] = fashion_run(classroom_on["runs"], f"{owner}'s", range(0, wrong), minute, dropout=0.2)
        runs.update_record(made[owner], owner=owner, assignment=a.id, preset="fmnist-arch1-tr1")
    ann, bob = (runs.read_run(made[o]) for o in ("Ann", "Bob"))
    ann_m, bob_m = ann.metrics()["test_error_ci95"], bob.metrics()["test_error_ci95"]
    assert ann_m[0] <= bob_m[1] and bob_m[0] <= ann_m[1], "the intervals overlap"
    board = open_page(app, "pages/board.py").table[0].value["Versus the leader"].tolist()
    assert board[1].startswith("really behind")
    compare = open_page(app, "pages/compare.py")
    compare.session_state["compare.select"] = [ann.id, bob.id]
    compare.run()
    assert "is really better on this test set" in texts(compare.success)


def test_names_on_the_board_show_as_typed(classroom_on, app, open_page):
    a = classroom.save_assignment(classroom_on["runs"], Identity("Instructor", "instructor"),
                                  {"title": "Dropout", "preset": "fmnist-arch1-tr1", "allowed": {"dropout": [0.0, 0.5]}})
    typed = "![pic](x.png) [site](http:example.com) :rainbow[WIN] **b**"
    path = fashion_run(classroom_on["runs"], typed, range(0, 10), 1, dropout=0.2)
    runs.update_record(path, owner="Ann", assignment=a.id, preset="fmnist-arch1-tr1")
    table = open_page(app, "pages/board.py").table[0].value
    assert table["Run"].tolist() == [fmt.text(typed)]  # st.table draws Markdown: escaped, it shows as typed


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


TEACHER = Identity("Instructor", "instructor")


def test_the_instructor_sees_every_waiting_and_training_run_live_and_stops_any_of_them(classroom_on, make_app, open_page,
                                                                                       job_in_state):
    hog = job_in_state(classroom_on["runs"], "running", owner="Zed", name="every slider at its extreme", epochs=300)
    waiting = job_in_state(classroom_on["runs"], "queued", owner="Ann", name="Ann's")
    student = open_page(signed_in(make_app(), Identity("Ann")), "pages/classroom.py")
    assert not [b for b in student.button if str(b.key).startswith("class.stop_")]  # students see the queue, no Stop
    teacher = open_page(signed_in(make_app(), TEACHER), "pages/classroom.py")
    assert {b.key for b in teacher.button if str(b.key).startswith("class.stop_")} == {f"class.stop_{hog.id}",
                                                                                         f"class.stop_{waiting.id}"}
    assert "training, epoch" in texts(teacher.markdown) and "waiting" in texts(teacher.markdown)
    teacher.button(key=f"class.stop_{hog.id}").click().run()
    q = Queue(classroom_on["runs"])
    assert q.get(hog.id).cancel_requested and q.get(waiting.id).status == "queued"
    assert "stops at its next batch" in texts(teacher.success)


def test_a_students_sliders_offer_only_what_the_class_allows_and_the_instructor_is_free(classroom_on, make_app,
                                                                                        open_page):
    student = open_page(signed_in(make_app(), Identity("Ann")), "pages/train.py")
    assert student.slider(key="cfg.epochs").max == 30
    assert "all" not in student.select_slider(key="cfg.limit").options  # all images: more than 20,000
    assert min(int(o) for o in student.select_slider(key="cfg.batch_size").options) == 16
    assert student.select_slider(key="cfg.limit").value == 20_000 and "Within what your class allows" in texts(student.info)
    teacher = open_page(signed_in(make_app(), TEACHER), "pages/train.py")
    assert teacher.slider(key="cfg.epochs").max == 300 and "all" in teacher.select_slider(key="cfg.limit").options


def test_a_reload_keeps_the_assignment_a_student_works_on(classroom_on, make_app, open_page):
    a = classroom.save_assignment(classroom_on["runs"], TEACHER, {"title": "Dropout", "preset": "fmnist-arch1-tr1",
                                                                   "allowed": {"dropout": [0.0, 0.5]}, "epoch_budget": 3})
    at = open_page(signed_in(make_app(), Identity("Ann")), "pages/train.py")
    at.selectbox(key="train.assignment").set_value(a.id).run()
    assert at.query_params["assignment"] == a.id
    reloaded = signed_in(make_app(), Identity("Ann"))
    reloaded.query_params.update(dict(at.query_params))  # a new session on the same address
    open_page(reloaded, "pages/train.py")
    assert reloaded.selectbox(key="train.assignment").value == a.id and reloaded.slider(key="cfg.epochs").disabled


def test_seeds_are_offered_only_up_to_the_students_room_in_the_queue(classroom_on, make_app, open_page, job_in_state):
    job_in_state(classroom_on["runs"], "running", owner="Bob", name="another tab's run")
    at = open_page(signed_in(make_app(), Identity("Bob")), "pages/train.py")
    assert at.number_input(key="train.seeds").max == 1  # two a student, one already training
    teacher = open_page(signed_in(make_app(), TEACHER), "pages/train.py")
    assert teacher.number_input(key="train.seeds").max == 10


def test_train_more_is_offered_only_up_to_the_assignments_budget(classroom_on, make_app, open_page, write_run,
                                                                  job_in_state):
    a = classroom.save_assignment(classroom_on["runs"], TEACHER, {"title": "Short", "preset": "fmnist-arch1-tr1",
                                                                   "allowed": {"dropout": [0.0, 0.5]}, "epoch_budget": 3})
    at = signed_in(make_app(), Identity("Ann"))
    job = job_in_state(classroom_on["runs"], "completed", owner="Ann", name="done", epochs=2)
    run_dir = write_run(classroom_on["runs"], name="done", run_id=job.run_id, epochs=2)
    runs.update_record(run_dir, owner="Ann", assignment=a.id)
    (run_dir / "checkpoint").mkdir()
    (run_dir / "checkpoint" / "state.json").write_text(json.dumps({
        "format_version": 1, "epoch": 2, "arrays": "epoch-0002.npz", "sha256": "0", "history": [],
        "model_variables": [], "optimizer_variables": [], "backend": "tensorflow"}))
    at.session_state["app.client"] = "Ann"
    open_page(at, "pages/compare.py")
    at.session_state["compare.manage_select"] = job.run_id
    at.run()
    more = [n for n in at.number_input if n.key == "compare.more_epochs"]
    assert more and more[0].max == 1  # 2 of the budget's 3 epochs are trained


def test_the_instructor_edits_narrows_and_deletes_an_assignment_under_one_heading(classroom_on, make_app, open_page):
    a = classroom.save_assignment(classroom_on["runs"], TEACHER, {"title": "Dropout", "preset": "fmnist-arch1-tr1",
                                                                   "text": "Try **only** dropout."})
    at = open_page(signed_in(make_app(), TEACHER), "pages/classroom.py")
    assert [h.value for h in at.header].count("Assignments") == 1 and not [s for s in at.subheader if s.value == "Assignments"]
    assert "Try **only** dropout." in texts(at.markdown)  # the instructor's Markdown, drawn as Markdown
    at.button(key=f"class.edit_{a.id}").click().run()
    at.text_input(key=f"class.title_{a.id}").set_value("Dropout, narrowed")
    at.multiselect(key=f"class.allowed_{a.id}").set_value(["dropout"]).run()
    at.slider(key=f"class.range_{a.id}_dropout").set_value((0.2, 0.5)).run()
    at.button(key=f"class.save_{a.id}").click().run()
    (saved,) = classroom.assignments(classroom_on["runs"])
    assert (saved.id, saved.title, saved.allowed) == (a.id, "Dropout, narrowed", {"dropout": [0.2, 0.5]})
    at.button(key=f"class.delete_{a.id}").click().run()
    assert classroom.assignments(classroom_on["runs"]) == []


def test_a_waiting_student_is_told_the_class_is_paused(classroom_on, make_app, open_page, job_in_state, client):
    classroom.set_rules(classroom_on["runs"], TEACHER, paused=True)
    job_in_state(classroom_on["runs"], "queued", owner="Ann", name="waiting")
    at = open_page(signed_in(make_app(), Identity("Ann")), "pages/train.py")
    assert "The instructor has paused training for the class" in texts(at.markdown)
    assert "as soon as a worker is free" not in texts(at.markdown)


def test_the_board_counts_students_as_a_teacher_does_student2_before_student10():
    hidden = board_view.shown_names(["student10", "Student2", "ann", "student1"], False)
    assert hidden == {"ann": "Student 1", "student1": "Student 2", "Student2": "Student 3", "student10": "Student 4"}
    frame = pd.DataFrame({"epoch": [1, 1, 1], "validation accuracy": [80.0, 81.0, 82.0],
                          "student": ["Student 10", "Student 2", "Student 1"], "run": ["a", "b", "c"]})
    legend = board_view.live_chart(frame).to_dict()["encoding"]["color"]["sort"]
    assert legend == ["Student 1", "Student 2", "Student 10"]


def test_the_board_draws_every_training_students_validation_curve_on_one_chart_and_can_hide_names(
        classroom_on, app, open_page):
    a = classroom.save_assignment(classroom_on["runs"], TEACHER, {"title": "Dropout", "preset": "fmnist-arch1-tr1",
                                                                   "allowed": {"dropout": [0.0, 0.5]}})
    queue = Queue(classroom_on["runs"])
    first = jobs.make_job(PRESETS["fmnist-arch1-tr1"].config, classroom_on["runs"], name="Ann's first")
    queue.submit(dataclasses.replace(first, assignment=a.id), "Ann")  # the class pressed Train; no worker has it yet
    assert "Waiting for a worker: 1 run" in texts(open_page(app, "pages/board.py").subheader)
    queue.cancel(queue.jobs()[0].id)
    for owner in ("Ann", "Bob", "Cy"):
        spec = jobs.make_job(PRESETS["fmnist-arch1-tr1"].config, classroom_on["runs"], name=f"{owner}'s try")
        queue.submit(dataclasses.replace(spec, assignment=a.id), owner)
        queue.claim()  # a worker trains it: two epochs so far
        spec.run_dir.mkdir(parents=True)
        write_csv(spec.run_dir / runs.HISTORY_FILE, make_history(2, 0.9, 0.85, 0.3, 0.4))
    late = jobs.make_job(PRESETS["fmnist-arch1-tr1"].config, classroom_on["runs"], name="Dee's try")
    queue.submit(dataclasses.replace(late, assignment=a.id), "Dee")  # pressed Train a moment later: not taken yet
    at = open_page(app, "pages/board.py")
    assert [c for c in at.get("vega_lite_chart") if "Validation accuracy, as each run trains" in c.proto.spec]
    assert "Training now: 3 runs" in texts(at.subheader) and "1 more waiting for a worker." in texts(at.caption)
    training = [j for j in queue.jobs(active_only=True) if j.status == "running"]
    frame = board_view.live_frame(training, board_view.shown_names([j.owner for j in training], True))
    assert sorted(set(frame["student"])) == ["Ann", "Bob", "Cy"] and len(frame) == 6  # two epochs each, one chart
    hidden = board_view.live_frame(training, board_view.shown_names([j.owner for j in training], False))
    assert sorted(set(hidden["student"])) == ["Student 1", "Student 2", "Student 3"]
    classroom.set_rules(classroom_on["runs"], TEACHER, names_on_board=False)
    at = open_page(app, "pages/board.py")
    assert [c for c in at.get("vega_lite_chart") if "Validation accuracy, as each run trains" in c.proto.spec]
