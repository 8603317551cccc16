"""core.classroom: who is who, and what each may do, enforced in the core (the pages only show it)."""

import dataclasses
import hashlib
import json
import stat
import time

import pytest

from core import classroom
from core.classroom import ClassPolicy, ClassroomError, Identity
from core.networks.config import TrainConfig
from core.queue import jobs
from core.queue.queue import Queue
from core.storage import archive, edits, listing, runs

TEACHER = Identity("Instructor", "instructor")


def test_a_new_name_is_claimed_with_its_pin_which_is_stored_only_as_a_salted_hash(tmp_path):
    ann = classroom.sign_in(tmp_path, "  Ann  Lee ", "1234")
    assert ann == Identity("Ann Lee") and not ann.instructor
    account = json.loads((tmp_path / classroom.FOLDER / "accounts.json").read_text())["ann lee"]
    assert set(account) == {"name", "salt", "hash", "created"} and "1234" not in account.values()
    assert account["hash"] == hashlib.scrypt(b"1234", salt=bytes.fromhex(account["salt"]), n=2**14, r=8, p=1).hex()
    assert classroom.sign_in(tmp_path, "ann lee", "1234") == Identity("Ann Lee")  # the same student, any case
    with pytest.raises(ClassroomError, match="is taken and this PIN does not match"):
        classroom.sign_in(tmp_path, "Ann Lee", "9999")
    for name, pin, message in (("", "1234", "a name is"), ("x/y", "1234", "a name is"), ("Bob", "12", "a PIN is 4 to 8 digits"),
                               ("instructor", "1234", "the instructor's")):
        with pytest.raises(ClassroomError, match=message):
            classroom.sign_in(tmp_path, name, pin)


def test_the_instructor_resets_a_forgotten_pin(tmp_path):
    classroom.sign_in(tmp_path, "Ann", "1234")
    with pytest.raises(ClassroomError, match="only the instructor"):
        classroom.reset_pin(tmp_path, Identity("Bob"), "Ann")
    classroom.reset_pin(tmp_path, TEACHER, "ann")
    assert classroom.sign_in(tmp_path, "Ann", "5678") == Identity("Ann")  # claimed again with a new PIN
    assert classroom.students(tmp_path) == ["Ann"]


def test_a_signed_identity_survives_and_a_forged_edited_or_expired_one_is_refused(tmp_path):
    key = classroom.secret(tmp_path)
    assert stat.S_IMODE((tmp_path / classroom.FOLDER / "secret").stat().st_mode) == 0o600
    assert classroom.secret(tmp_path) == key  # made once
    token = classroom.token_for(Identity("Ann"), key)
    assert classroom.identity_from(token, key) == Identity("Ann")
    payload, signature = token.split(".")
    import base64

    edited = base64.urlsafe_b64encode(base64.urlsafe_b64decode(payload).replace(b"student", b"instructor")).decode()
    assert classroom.identity_from(f"{edited}.{signature}", key) is None  # promoted by hand: refused
    assert classroom.identity_from(token, b"another server's key") is None
    assert classroom.identity_from(classroom.token_for(Identity("Ann"), key, days=-1), key) is None  # expired
    assert classroom.identity_from("garbage", key) is None and classroom.identity_from(None, key) is None
    assert classroom.secret(tmp_path, {"CLASSROOM_SECRET": "from the environment"}) == b"from the environment"


def test_a_reset_pin_or_a_new_instructor_password_signs_out_the_old_tokens(tmp_path):
    key = classroom.secret(tmp_path)
    ann = classroom.sign_in(tmp_path, "Ann", "1234")

    def still_valid(token, password="s3cret"):
        return classroom.identity_from(token, key, lambda who: classroom.stamp(tmp_path, who, password)) is not None

    student = classroom.token_for(ann, key, stamp=classroom.stamp(tmp_path, ann, "s3cret"))
    teacher = classroom.token_for(TEACHER, key, stamp=classroom.stamp(tmp_path, TEACHER, "s3cret"))
    assert still_valid(student) and still_valid(teacher)
    assert not still_valid(teacher, password="changed after a student saw it")
    assert not still_valid(classroom.token_for(ann, key))  # no stamp: a token from before stamps, or made by hand
    classroom.reset_pin(tmp_path, TEACHER, "Ann")
    assert not still_valid(student)  # whoever learned the old PIN is signed out
    classroom.sign_in(tmp_path, "Ann", "5678")
    assert not still_valid(student)  # and stays out once Ann has chosen a new PIN


def test_wrong_pins_close_the_name_for_a_while(tmp_path, monkeypatch):
    classroom.sign_in(tmp_path, "Ann", "1234")
    for _ in range(classroom.MAX_PIN_FAILURES):
        with pytest.raises(ClassroomError, match="this PIN does not match"):
            classroom.sign_in(tmp_path, "Ann", "0000")
    with pytest.raises(ClassroomError, match="too many wrong PINs for “Ann”: try again in 5 minutes"):
        classroom.sign_in(tmp_path, "Ann", "1234")  # even the right PIN waits: no guess can be tested
    later = time.time() + classroom.PIN_LOCKOUT_S + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert classroom.sign_in(tmp_path, "Ann", "1234") == Identity("Ann")
    assert "failures" not in json.loads((tmp_path / classroom.FOLDER / "accounts.json").read_text())["ann"]


def test_students_claiming_names_at_once_all_keep_their_accounts_and_a_damaged_file_is_never_overwritten(tmp_path):
    import threading

    threads = [threading.Thread(target=classroom.sign_in, args=(tmp_path, f"student {i}", "1234")) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert classroom.students(tmp_path) == [f"student {i}" for i in range(8)]
    accounts = tmp_path / classroom.FOLDER / "accounts.json"
    accounts.write_text('{"student 0": ')  # cut short
    with pytest.raises(ClassroomError, match="accounts.json cannot be read"):
        classroom.sign_in(tmp_path, "Newcomer", "1234")
    assert accounts.read_text() == '{"student 0": '


def test_the_instructor_signs_in_with_the_configured_password_only(tmp_path):
    assert classroom.instructor_sign_in("s3cret", "s3cret").instructor
    with pytest.raises(ClassroomError, match="not the instructor's password"):
        classroom.instructor_sign_in("guess", "s3cret")
    with pytest.raises(ClassroomError, match="no instructor password is set"):
        classroom.instructor_sign_in("s3cret", None)


def test_only_the_owner_and_the_instructor_change_a_run_and_the_core_refuses_the_rest(tmp_path, fake_run):
    path = fake_run(tmp_path, "ann's run")
    runs.update_record(path, owner="Ann")
    run = runs.read_run(path)
    # What a stranger typed is not checked first: an empty name or too many tags is refused as not theirs.
    for change in (lambda who: edits.rename_run(run, "mine now", who), lambda who: edits.annotate_run(run, notes="x", actor=who),
                   lambda who: edits.rename_run(run, "", who),
                   lambda who: edits.annotate_run(run, tags=[f"t{i}" for i in range(11)], actor=who),
                   lambda who: edits.delete_run(run, who)):
        for stranger in (Identity("Bob"), classroom.VISITOR):  # another student, and a signed-out browser
            with pytest.raises(runs.RunError, match="Ann's: only its owner and the instructor"):
                change(stranger)
    edits.rename_run(run, "renamed by Ann", Identity("Ann"))
    edits.annotate_run(runs.read_run(path), notes="checked", actor=TEACHER)
    assert runs.read_run(path).record["notes"] == "checked"
    edits.delete_run(runs.read_run(path), TEACHER)
    assert not path.exists()


def test_a_student_may_queue_at_most_k_jobs_within_the_limits(tmp_path):
    queue = Queue(tmp_path, ClassPolicy(tmp_path))
    ann = Identity("Ann")
    spec = lambda **c: jobs.make_job(TrainConfig(epochs=5, limit=1000, **c), tmp_path, name="r")  # noqa: E731
    queue.submit(spec(), "Ann", actor=ann)
    queue.submit(spec(), "Ann", actor=ann)
    with pytest.raises(ClassroomError, match="you have 2 runs waiting or training; the class allows 2"):
        queue.submit(spec(), "Ann", actor=ann)
    queue.submit(spec(), "Instructor", actor=TEACHER)  # the instructor is not limited
    classroom.set_rules(tmp_path, TEACHER, max_queued=5, max_epochs=3, max_images=500)
    with pytest.raises(ClassroomError, match="5 epochs is more than the 3"):
        queue.submit(spec(), "Ann", actor=ann)
    with pytest.raises(ClassroomError, match="at most 500 images"):
        queue.submit(jobs.make_job(TrainConfig(epochs=2, limit=0), tmp_path, name="r"), "Ann", actor=ann)
    with pytest.raises(ClassroomError, match="only the instructor"):
        classroom.set_rules(tmp_path, ann, paused=True)
    assert len(queue.jobs()) == 3


def test_paused_training_takes_no_job_and_the_instructor_clears_the_queue(tmp_path):
    queue = Queue(tmp_path, ClassPolicy(tmp_path))
    first = queue.submit(jobs.make_job(TrainConfig(epochs=1), tmp_path, name="a"), "Ann")
    queue.submit(jobs.make_job(TrainConfig(epochs=1), tmp_path, name="b"), "Bob")
    classroom.set_rules(tmp_path, TEACHER, paused=True)
    assert queue.claim() is None
    classroom.set_rules(tmp_path, TEACHER, paused=False)
    assert queue.claim().id == first
    with pytest.raises(ClassroomError, match="Ann's: only they and the instructor"):
        queue.cancel(first, Identity("Bob"))
    queue.cancel(first, TEACHER)
    assert queue.clear(TEACHER) == 1 and [j.status for j in queue.jobs()] == ["running", "cancelled"]
    assert queue.get(first).cancel_requested


def test_an_assignment_lets_students_move_only_its_sliders_within_their_ranges(tmp_path):
    a = classroom.save_assignment(tmp_path, TEACHER, {"title": "Dropout against overfitting", "preset": "fmnist-arch1-tr1",
                                                      "allowed": {"dropout": [0.0, 0.5], "epochs": [1, 10]},
                                                      "epoch_budget": 10, "text": "Find the best dropout."})
    assert classroom.assignments(tmp_path) == [a]
    start = TrainConfig(architecture="fmnist_arch1", epochs=10)
    a.check(start.replace(dropout=0.3, seed=4))
    with pytest.raises(ClassroomError, match="allows dropout from 0.0 to 0.5"):
        a.check(start.replace(dropout=0.7))
    with pytest.raises(ClassroomError, match="keeps learning rate at 0.001"):
        a.check(start.replace(learning_rate=0.01))
    exported = json.dumps(json.loads((tmp_path / classroom.FOLDER / "assignments" / f"{a.id}.json").read_text())).encode()
    copy = classroom.import_assignment(tmp_path / "other", TEACHER, exported)
    assert copy.title == a.title and copy.id != a.id and classroom.assignments(tmp_path / "other") == [copy]
    for bad, message in ((b"{not json", "not an assignment file"),
                         (b'{"title": "x", "preset": "nope"}', "unknown starting preset"),
                         (b'{"title": "x", "preset": "fmnist-arch1-tr1", "allowed": {"optimizer": [0, 1]}}',
                          "cannot be an allowed")):
        with pytest.raises(ClassroomError, match=message):
            classroom.import_assignment(tmp_path, TEACHER, bad)


def test_an_assignment_starts_shortened_to_its_budget_and_the_class_limits_so_kept_sliders_can_train(tmp_path):
    from core.networks.presets import get

    a = classroom.save_assignment(tmp_path, TEACHER, {"title": "Dropout", "preset": "fmnist-arch1-tr1",
                                                      "allowed": {"dropout": [0.0, 0.5]}, "epoch_budget": 10})
    classroom.set_rules(tmp_path, TEACHER, max_images=3000)
    assert a.starting_changes() == {"epochs": 10}
    assert a.starting_changes(classroom.rules(tmp_path)) == {"epochs": 10, "limit": 3000}
    start = get("fmnist-arch1-tr1").config.replace(**a.starting_changes(classroom.rules(tmp_path)))
    queue, ann = Queue(tmp_path, ClassPolicy(tmp_path)), Identity("Ann")

    def answer(config):
        return dataclasses.replace(jobs.make_job(config, tmp_path, name="r"), assignment=a.id)

    queue.submit(answer(start.replace(dropout=0.3)), "Ann", actor=ann)
    with pytest.raises(ClassroomError, match="50 epochs is more than this assignment's budget of 10"):
        queue.submit(answer(start.replace(epochs=50)), "Ann", actor=ann)
    with pytest.raises(ClassroomError, match="keeps epochs at 10"):
        queue.submit(answer(start.replace(epochs=5)), "Ann", actor=ann)
    assert len(queue.jobs()) == 1


def test_an_assignment_that_no_run_could_fit_or_whose_id_is_a_path_is_refused(tmp_path):
    base = {"title": "t", "preset": "fmnist-arch1-tr1"}
    for values, message in (({"allowed": {"epochs": [20, 50]}, "epoch_budget": 10}, "starts at 20, above the budget of 10"),
                            ({"epoch_budget": 0.5}, "whole number of epochs"),
                            ({"id": "../../escape"}, "not an assignment id")):
        with pytest.raises(ClassroomError, match=message):
            classroom.save_assignment(tmp_path, TEACHER, {**base, **values})
    assert classroom.assignments(tmp_path) == [] and not (tmp_path / "escape.json").exists()


def test_the_board_ranks_each_students_best_run_and_holds_each_against_the_leader_with_mcnemar(tmp_path):
    from tools.fake_runs import make_config, write_run

    a = classroom.save_assignment(tmp_path, TEACHER, {"title": "Dropout", "preset": "fmnist-arch1-tr1",
                                                      "allowed": {"dropout": [0.0, 0.5]}})

    def submitted(owner, accuracy, dropout, assignment=a.id, first_wrong=0):
        n = 2000
        y = [i % 10 for i in range(n)]
        wrong = range(first_wrong, first_wrong + round((1 - accuracy) * n))
        path = write_run(tmp_path / "runs", name=f"{owner} {dropout}", y_true=y, y_pred=[(v + 1) % 10 if i in wrong else v
                                                                                         for i, v in enumerate(y)],
                         preset="fmnist-arch1-tr1", config=make_config(preset="fmnist-arch1-tr1", dropout=dropout))
        runs.update_record(path, owner=owner, assignment=assignment)

    submitted("Ann", 0.90, 0.2)  # wrong on images 0-199
    submitted("Ann", 0.85, 0.4)  # Ann's weaker try: not on the board
    submitted("Bob", 0.895, 0.3)  # wrong on 0-209: inside the leader's interval, yet right on none that Ann misses
    submitted("Cy", 0.895, 0.5, first_wrong=100)  # wrong on 100-309: as many, but 100 others each way
    submitted("Dee", 0.99, 0.1, assignment=None)  # not for this assignment
    board = classroom.leaderboard(listing.list_runs(tmp_path / "runs", pretrained_dir=None), a)
    assert [(s.owner, round(s.accuracy, 3)) for s in board] == [("Ann", 0.9), ("Bob", 0.895), ("Cy", 0.895)]
    assert board[0].versus_leader is None and board[0].changed == {"dropout": [0.0, 0.2]}
    bob, cy = board[1].versus_leader, board[2].versus_leader
    assert (bob.paired.only_a_right, bob.paired.only_b_right, bob.differs) == (10, 0, True)  # as Compare says
    assert (cy.paired.only_a_right, cy.paired.only_b_right, cy.differs) == (110, 100, False)


def test_the_board_counts_what_a_student_changed_from_the_assignments_start_not_its_budget(tmp_path):
    from tools.fake_runs import make_config, write_run

    a = classroom.save_assignment(tmp_path, TEACHER, {"title": "Dropout", "preset": "fmnist-arch1-tr1",
                                                      "allowed": {"dropout": [0.0, 0.5]}, "epoch_budget": 6})
    classroom.set_rules(tmp_path, TEACHER, max_images=3000)
    class_rules = classroom.rules(tmp_path)
    start = a.start(class_rules)
    assert (start.epochs, start.limit) == (6, 3000)
    assert a.changes(start.replace(dropout=0.3, seed=4).to_dict(), class_rules) == {"dropout": [0.0, 0.3]}
    assert a.changes(start.to_dict()) == {"limit": [0, 3000]}  # without the class's rules, their image cap is a change

    path = write_run(tmp_path / "runs", name="Ann's", y_true=[0, 1] * 50, y_pred=[0, 1] * 50, preset="fmnist-arch1-tr1",
                     config=make_config(preset="fmnist-arch1-tr1", epochs=6, limit=3000, dropout=0.3))
    runs.update_record(path, owner="Ann", assignment=a.id)
    board = classroom.leaderboard(listing.list_runs(tmp_path / "runs", pretrained_dir=None), a, class_rules)
    assert [(s.owner, s.changed) for s in board] == [("Ann", {"dropout": [0.0, 0.3]})]


def test_a_signed_out_visitor_may_look_but_not_train_stop_or_import(tmp_path, fake_run):
    queue, ann = Queue(tmp_path, ClassPolicy(tmp_path)), Identity("Ann")
    job = queue.submit(jobs.make_job(TrainConfig(epochs=1, limit=100), tmp_path, name="r"), "Ann", actor=ann)
    with pytest.raises(ClassroomError, match="sign in on the class page to train"):
        queue.submit(jobs.make_job(TrainConfig(epochs=1, limit=100), tmp_path, name="r"), "someone", actor=classroom.VISITOR)
    with pytest.raises(ClassroomError, match="Ann's: only they and the instructor can stop it"):
        queue.cancel(job, classroom.VISITOR)
    exported = archive.export_run(runs.read_run(fake_run(tmp_path / "elsewhere", "a run")))
    with pytest.raises(runs.RunError, match="sign in on the class page to import"):
        archive.import_run(exported, tmp_path, owner="someone", actor=classroom.VISITOR)
    assert [j.status for j in queue.jobs()] == ["queued"] and not [p for p in tmp_path.iterdir() if p.name.startswith("2")]


def test_a_run_is_continued_only_by_its_owner_once_at_a_time_and_within_the_class_rules(tmp_path, fake_run):
    path = fake_run(tmp_path, "ann's run")
    runs.update_record(path, owner="Ann")
    run, queue = runs.read_run(path), Queue(tmp_path, ClassPolicy(tmp_path))
    classroom.set_rules(tmp_path, TEACHER, max_epochs=5)
    with pytest.raises(ClassroomError, match="Ann's: only they and the instructor can continue it"):
        queue.submit(jobs.make_resume_job(run, epochs=4), "Bob", actor=Identity("Bob"))
    with pytest.raises(ClassroomError, match="295 epochs is more than the 5 this class allows"):
        queue.submit(jobs.make_resume_job(run, epochs=295), "Ann", actor=Identity("Ann"))
    queue.submit(jobs.make_resume_job(run, epochs=4), "Ann", actor=Identity("Ann"))
    with pytest.raises(runs.RunError, match="already in the queue"):  # a double click: one job, not two on one folder
        queue.submit(jobs.make_resume_job(run, epochs=4), "Instructor", actor=TEACHER)
    finder = jobs.make_lr_find_job(TrainConfig(epochs=50), tmp_path)  # 200 batches, whatever its epochs say
    queue.submit(finder, "Ann", actor=Identity("Ann"))
    assert len(queue.jobs(active_only=True)) == 2


def test_an_imported_run_is_the_importers_and_counts_on_no_board(tmp_path, fake_run):
    a = classroom.save_assignment(tmp_path, TEACHER, {"title": "t", "preset": "fmnist-arch1-tr1"})
    path = fake_run(tmp_path / "home", "from home")
    runs.update_record(path, owner="browser-at-home", assignment=a.id, group={"id": "g-1", "seeds": 2, "index": 0})
    imported = archive.import_run(archive.export_run(runs.read_run(path)), tmp_path, owner="Bob", actor=Identity("Bob"))
    assert imported.record["owner"] == "Bob" and "assignment" not in imported.record and "group" not in imported.record
    assert classroom.leaderboard(listing.list_runs(tmp_path, pretrained_dir=None), a) == []
    edits.rename_run(imported, "mine", Identity("Bob"))


def test_a_new_class_starts_with_limits_that_keep_one_run_from_holding_the_machine_and_the_instructor_raises_them(tmp_path):
    queue, ann = Queue(tmp_path, ClassPolicy(tmp_path)), Identity("Ann")
    extreme = TrainConfig(epochs=300, batch_size=8, units=1024, learning_rate=1.0, limit=0)
    with pytest.raises(ClassroomError, match="300 epochs is more than the 30 this class allows"):
        queue.submit(jobs.make_job(extreme, tmp_path, name="r"), "Ann", actor=ann)
    with pytest.raises(ClassroomError, match="at most 20,000 images"):
        queue.submit(jobs.make_job(extreme.replace(epochs=30), tmp_path, name="r"), "Ann", actor=ann)
    with pytest.raises(ClassroomError, match="batch size 8 is below this class's floor of 16"):
        queue.submit(jobs.make_job(extreme.replace(epochs=30, limit=20_000), tmp_path, name="r"), "Ann", actor=ann)
    queue.submit(jobs.make_job(extreme, tmp_path, name="the instructor's"), "Instructor", actor=TEACHER)  # not limited
    classroom.set_rules(tmp_path, TEACHER, max_epochs=300, max_images=None, min_batch_size=None)
    queue.submit(jobs.make_job(extreme, tmp_path, name="r"), "Ann", actor=ann)
    assert [j.owner for j in queue.jobs()] == ["Instructor", "Ann"]
    with pytest.raises(ClassroomError, match="min batch size must be a whole number from 8 to 1,024"):
        classroom.set_rules(tmp_path, TEACHER, min_batch_size=2)


def test_a_students_sliders_are_bounded_by_the_class_and_the_assignment_and_so_is_training_a_run_further(tmp_path):
    a = classroom.save_assignment(tmp_path, TEACHER, {"title": "Dropout", "preset": "fmnist-arch1-tr1",
                                                      "allowed": {"dropout": [0.2, 0.5], "epochs": [1, 50]},
                                                      "epoch_budget": 3})
    bounds = classroom.student_bounds(classroom.rules(tmp_path), a)
    assert bounds == {"epochs": (1, 3), "limit": (1, 20_000), "batch_size": (16, 1024), "dropout": (0.2, 0.5)}
    assert a.starting_changes(classroom.rules(tmp_path)) == {"epochs": 3, "limit": 20_000, "dropout": 0.2}
    assert classroom.epochs_cap(tmp_path, Identity("Ann"), {"assignment": a.id}) == 3
    assert classroom.epochs_cap(tmp_path, Identity("Ann"), {}) == 30
    assert classroom.epochs_cap(tmp_path, TEACHER, {"assignment": a.id}) is None
    with pytest.raises(ClassroomError, match="the range of dropout must run from a low to a high value"):
        classroom.save_assignment(tmp_path, TEACHER, {"title": "t", "preset": "fmnist-arch1-tr1",
                                                      "allowed": {"dropout": [0.6, 0.2]}})


def test_the_instructor_edits_and_deletes_an_assignment_and_nobody_else_can(tmp_path):
    a = classroom.save_assignment(tmp_path, TEACHER, {"title": "Dropout", "preset": "fmnist-arch1-tr1"})
    edited = classroom.save_assignment(tmp_path, TEACHER, {**dataclasses.asdict(a), "title": "Dropout, again",
                                                           "text": "**only**"})
    assert edited.id == a.id and [(x.id, x.title) for x in classroom.assignments(tmp_path)] == [(a.id, "Dropout, again")]
    with pytest.raises(ClassroomError, match="only the instructor can delete assignments"):
        classroom.delete_assignment(tmp_path, Identity("Ann"), a.id)
    with pytest.raises(ClassroomError, match="is not an assignment id"):
        classroom.delete_assignment(tmp_path, TEACHER, "../class")
    classroom.delete_assignment(tmp_path, TEACHER, a.id)
    assert classroom.assignments(tmp_path) == []
