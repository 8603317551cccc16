"""The class's rules as the queue applies them: ClassPolicy is what core.queue.queue.Queue is handed where the
dashboard runs a class (sign-in on), so that the queue itself never imports the classroom."""

from __future__ import annotations

from core.classroom.accounts import VISITOR, ClassroomError, Identity, require_instructor
from core.classroom.assignments import Assignment, assignments
from core.classroom.rules import rules
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
    if r.max_epochs and config.epochs > r.max_epochs:
        raise ClassroomError(f"{config.epochs} epochs is more than the {r.max_epochs} this class allows a run")
    if assignment and assignment.epoch_budget and config.epochs > assignment.epoch_budget:
        raise ClassroomError(f"{config.epochs} epochs is more than this assignment's budget of {assignment.epoch_budget}")
    if r.max_images and (config.limit == 0 or config.limit > r.max_images):
        raise ClassroomError(f"this class trains on at most {r.max_images:,} images: set the image limit to {r.max_images:,} "
                             "or less")
    if assignment:
        assignment.check(config, r)




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
