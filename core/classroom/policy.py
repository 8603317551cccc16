"""The class's rules as the queue applies them: ClassPolicy is what core.queue.queue.Queue is handed where the
dashboard runs a class (sign-in on), so that the queue itself never imports the classroom."""

from __future__ import annotations

from core.classroom.accounts import VISITOR, ClassroomError, Identity, require_instructor
from core.classroom.assignments import Assignment, assignments
from core.classroom.rules import Rules, rules
from core.storage.ownership import may_change


def check_job(runs_dir, actor: Identity | None, config, queued_by_actor: int, assignment: Assignment | None = None,
              short_test: bool = False) -> None:
    """A student's job must fit the class's rules and the assignment's; the instructor's always does. A short test
    (the learning-rate finder: 200 batches) counts in the queue but trains no epochs, so only the queue limit applies."""
    if actor == VISITOR:
        raise ClassroomError("sign in on the class page to train")
    if actor is None or actor.instructor:
        return
    r = rules(runs_dir)
    if queued_by_actor >= r.max_queued:
        raise ClassroomError(f"you have {queued_by_actor} runs waiting or training; the class allows {r.max_queued} at a "
                             "time: wait for one to finish, or stop one")
    if short_test:
        return
    if assignment and assignment.epoch_budget and config.epochs > assignment.epoch_budget:
        raise ClassroomError(f"{config.epochs} epochs is more than this assignment's budget of {assignment.epoch_budget}")
    if r.max_epochs and config.epochs > r.max_epochs:
        raise ClassroomError(f"{config.epochs} epochs is more than the {r.max_epochs} this class allows a run")
    if r.max_images and (config.limit == 0 or config.limit > r.max_images):
        raise ClassroomError(f"this class trains on at most {r.max_images:,} images: set the image limit to {r.max_images:,} "
                             "or less")
    if r.min_batch_size and config.batch_size < r.min_batch_size:
        raise ClassroomError(f"batch size {config.batch_size} is below this class's floor of {r.min_batch_size} (small "
                             f"batches make a run far slower, for everyone waiting): choose {r.min_batch_size} or more")
    if assignment:
        assignment.check(config, r)


def student_bounds(class_rules: Rules, assignment: Assignment | None) -> dict[str, tuple[float, float]]:
    """The range each field of a student's run may take, for the Train page's sliders: the class's limits, narrowed
    by the assignment's ranges and epoch budget. Fields not named are free within their config range."""
    bounds = dict(class_rules.bounds())
    narrower = dict(assignment.allowed) if assignment else {}
    if assignment and assignment.epoch_budget:
        low, high = narrower.get("epochs", (1, assignment.epoch_budget))
        narrower["epochs"] = (low, min(high, assignment.epoch_budget))
    for name, (low, high) in narrower.items():
        have_low, have_high = bounds.get(name, (low, high))
        bounds[name] = (max(low, have_low), min(high, have_high))
    return bounds


def epochs_cap(runs_dir, actor: Identity | None, record: dict) -> int | None:
    """The most epochs `actor` may train the run of `record` to (Resume, Train N more): the class's limit and its
    assignment's budget for a student, None (the config's range) for the instructor or without sign-in."""
    if actor is None or actor.instructor:
        return None
    caps = [rules(runs_dir).max_epochs]
    if answered := record.get("assignment"):
        caps += [a.epoch_budget for a in assignments(runs_dir) if a.id == answered]
    return min((c for c in caps if c), default=None)


class ClassPolicy:
    """core.queue.policy.Policy for the class of the runs folder `runs_dir`: its rules read afresh at every question
    (the instructor changes them while the class trains)."""

    def __init__(self, runs_dir):
        self.runs_dir = runs_dir

    def paused(self) -> bool:
        return rules(self.runs_dir).paused

    def admit(self, actor: Identity, spec, waiting: int, continued: dict | None) -> None:
        """A run is continued only by its owner or the instructor, within the rules of the assignment it was trained
        for; a new job within the class's rules and those of the assignment it names."""
        if continued is not None:
            if not may_change(actor, continued):
                raise ClassroomError(f"“{spec.name}” is {continued.get('owner') or 'someone else'}'s: only they and the "
                                     "instructor can continue it")
            answered = continued.get("assignment")
        else:
            answered = spec.assignment
        assignment = next((a for a in assignments(self.runs_dir) if a.id == answered), None) if answered else None
        check_job(self.runs_dir, actor, spec.config, waiting, assignment, short_test=spec.lr_find)

    def check_stop(self, actor: Identity, owner: str, name: str) -> None:
        if not actor.may_act_for(owner):
            raise ClassroomError(f"“{name}” is {owner}'s: only they and the instructor can stop it")

    def check_clear(self, actor: Identity) -> None:
        require_instructor(actor, "clear the queue")
