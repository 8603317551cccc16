"""The classroom: who is who (`accounts`: students with a PIN, the instructor with a password), the class's rules
(`rules`), assignments (`assignments`), the class board (`board`), and the policy the queue is handed (`policy`).

Enforced here, not only in the pages: an Identity is the actor core.storage asks before a run is changed, and
ClassPolicy is what core.queue asks before a job is queued, stopped or started. Without an instructor password
there is no sign-in: one person on one laptop uses the dashboard as before. May import: core.system, core.networks,
core.storage, core.metrics, core.analysis, core.queue (its Policy), core.formatting.
"""

from core.classroom.accounts import (
    FOLDER,
    INSTRUCTOR,
    MAX_PIN_FAILURES,
    PIN_LOCKOUT_S,
    TOKEN_DAYS,
    VISITOR,
    ClassroomError,
    Identity,
    identity_from,
    instructor_sign_in,
    require_instructor,
    reset_pin,
    secret,
    sign_in,
    stamp,
    students,
    token_for,
)
from core.classroom.assignments import (
    Assignment,
    assignments,
    delete_assignment,
    import_assignment,
    save_assignment,
)
from core.classroom.board import Standing, leaderboard
from core.classroom.policy import ClassPolicy, check_job, epochs_cap, student_bounds
from core.classroom.rules import Rules, rules, set_rules
from core.storage.ownership import may_change

__all__ = ["FOLDER", "INSTRUCTOR", "MAX_PIN_FAILURES", "PIN_LOCKOUT_S", "TOKEN_DAYS", "VISITOR", "Assignment",
           "ClassPolicy", "ClassroomError", "Identity", "Rules", "Standing", "assignments", "check_job",
           "delete_assignment", "epochs_cap", "identity_from", "import_assignment", "instructor_sign_in", "leaderboard",
           "may_change", "require_instructor", "reset_pin", "rules", "save_assignment", "secret", "set_rules", "sign_in",
           "stamp", "student_bounds", "students", "token_for"]
