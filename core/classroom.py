"""A classroom: who is who (students with a PIN, the instructor with a password), the class's rules, assignments.

Enforced here, not only in the pages: core.runs and core.jobs take the acting `Identity` and refuse what it
may not do. Everything lives in the runs folder's `.classroom/`:

    secret            the key that signs identities (made at first start, or $CLASSROOM_SECRET)
    accounts.json     {name: {salt, hash, created}}: PINs only as scrypt hashes
    class.json        the instructor's rules: queued jobs per student, pause, epoch and image limits
    assignments/      one JSON file per assignment

An identity is a signed token "name|role|expires.signature" (HMAC-SHA256 with the secret): a reload or a new
tab presents it again; a forged, edited or expired one is refused. Without an instructor password configured
there is no sign-in at all: one person on one laptop uses the dashboard as before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core import runs

FOLDER = ".classroom"
TOKEN_DAYS = 30
NAME_PATTERN = re.compile(r"^[\w][\w .'-]{0,39}$")
PIN_PATTERN = re.compile(r"^[0-9]{4,8}$")
# Wrong PINs: after every MAX_PIN_FAILURES in a row the name is closed for PIN_LOCKOUT_S, so that guessing a
# 4-digit PIN takes days, not the minutes scrypt alone allows.
MAX_PIN_FAILURES, PIN_LOCKOUT_S = 5, 300
ASSIGNMENT_ID = re.compile(r"^a-[\w-]{1,60}$")  # also its file's name, so no path can be made from it


class ClassroomError(Exception):
    """Sign-in refused, a rule broken, a bad assignment: the message says why and what to do."""


@dataclass(frozen=True)
class Identity:
    name: str
    role: str = "student"  # or "instructor"

    @property
    def instructor(self) -> bool:
        return self.role == "instructor"


INSTRUCTOR = "instructor"
# Who is signed out in a class with sign-in: may look, change nothing. (None is the dashboard without sign-in,
# where one person on one laptop owns everything; the pages pass VISITOR, never None, once sign-in is on.)
VISITOR = Identity("", "visitor")


def _folder(runs_dir) -> Path:
    path = Path(runs_dir) / FOLDER
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret(runs_dir, environ=os.environ) -> bytes:
    """The signing key: $CLASSROOM_SECRET, else the one kept beside the runs (made once, readable by the owner only)."""
    if environ.get("CLASSROOM_SECRET"):
        return environ["CLASSROOM_SECRET"].encode()
    path = _folder(runs_dir) / "secret"
    if not path.exists():
        draft = path.with_name(f".secret.{secrets.token_hex(4)}")
        draft.write_bytes(secrets.token_bytes(32))
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic, and only the first server to get here makes it
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_bytes()


def _sign(key: bytes, payload: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload.encode(), hashlib.sha256).digest()).decode().rstrip("=")


def token_for(identity: Identity, key: bytes, days: float = TOKEN_DAYS, stamp: str = "") -> str:
    """A signed token; `stamp` (see `stamp`) ties it to the student's account or the instructor's password."""
    payload = f"{identity.name}|{identity.role}|{int(time.time() + days * 86400)}|{stamp}"
    return f"{base64.urlsafe_b64encode(payload.encode()).decode()}.{_sign(key, payload)}"


def identity_from(token: str | None, key: bytes, stamp_of: Callable[[Identity], str | None] | None = None) -> Identity | None:
    """The identity a token proves, or None for a missing, forged, edited or expired one, or (with `stamp_of`)
    one whose stamp is no longer the identity's: its PIN was reset, or the instructor's password changed."""
    try:
        encoded, signature = str(token).split(".")
        payload = base64.urlsafe_b64decode(encoded.encode()).decode()
        name, role, expires, stamped = payload.split("|")
        if not hmac.compare_digest(signature, _sign(key, payload)) or time.time() > int(expires):
            return None
    except (ValueError, UnicodeDecodeError):
        return None
    if role not in ("student", INSTRUCTOR):
        return None
    identity = Identity(name, role)
    if stamp_of is not None:
        current = stamp_of(identity)
        if current is None or not hmac.compare_digest(stamped, current):
            return None
    return identity


def stamp(runs_dir, identity: Identity, password: str | None) -> str | None:
    """What a token of `identity` must carry to stay valid: part of a hash of the instructor's password, or of the
    student's account (a reset PIN makes a new one); None when there is no such account or password."""
    if identity.instructor:
        return hashlib.sha256(f"instructor|{password}".encode()).hexdigest()[:16] if password else None
    try:
        account = _accounts(runs_dir).get(identity.name.lower())
    except ClassroomError:
        return None
    return hashlib.sha256(f"student|{account['salt']}".encode()).hexdigest()[:16] if account else None


def _hash(pin: str, salt: bytes) -> str:
    return hashlib.scrypt(pin.encode(), salt=salt, n=2**14, r=8, p=1).hex()  # a standard key-derivation function


def _accounts(runs_dir) -> dict:
    """The accounts; ClassroomError if the file is damaged (never an empty dict that the next write would keep)."""
    path = _folder(runs_dir) / "accounts.json"
    if not path.exists():
        return {}
    try:
        accounts = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ClassroomError(f"{path} cannot be read ({e}); restore it, or move it away to start the class's accounts "
                             "afresh") from None
    if not isinstance(accounts, dict):
        raise ClassroomError(f"{path} is damaged (not a JSON object); restore it, or move it away")
    return accounts


def _locked_out(account: dict) -> float:
    """Seconds this name stays closed to sign-in after too many wrong PINs (0: open)."""
    return max(0.0, account.get("locked_until", 0) - time.time())


def sign_in(runs_dir, name: str, pin: str) -> Identity:
    """A student: a new name is claimed with its PIN; a taken name needs its PIN."""
    name = " ".join(str(name).split())
    if not NAME_PATTERN.match(name):
        raise ClassroomError("a name is 1 to 40 letters, digits, spaces, dots, dashes or apostrophes")
    if name.lower() == INSTRUCTOR:
        raise ClassroomError("that name is the instructor's; choose another")
    if not PIN_PATTERN.match(str(pin)):
        raise ClassroomError("a PIN is 4 to 8 digits")
    key = name.lower()
    with runs.folder_lock(_folder(runs_dir)):  # two students claiming names at once must not lose one
        accounts = _accounts(runs_dir)
        if key in accounts:
            account = accounts[key]
            if wait := _locked_out(account):
                raise ClassroomError(f"too many wrong PINs for “{name}”: try again in {math.ceil(wait / 60)} minutes, "
                                     "or ask the instructor to reset the PIN")
            if hmac.compare_digest(account["hash"], _hash(pin, bytes.fromhex(account["salt"]))):
                if account.pop("failures", 0):
                    account.pop("locked_until", None)
                    runs.write_json(_folder(runs_dir) / "accounts.json", accounts)
                return Identity(account["name"])
            account["failures"] = account.get("failures", 0) + 1
            if account["failures"] % MAX_PIN_FAILURES == 0:
                account["locked_until"] = time.time() + PIN_LOCKOUT_S
            runs.write_json(_folder(runs_dir) / "accounts.json", accounts)
            raise ClassroomError(f"the name “{name}” is taken and this PIN does not match; if it is yours, ask the "
                                 "instructor to reset your PIN")
        salt = secrets.token_bytes(16)
        accounts[key] = {"name": name, "salt": salt.hex(), "hash": _hash(pin, salt), "created": runs.now_iso()}
        runs.write_json(_folder(runs_dir) / "accounts.json", accounts)
    return Identity(name)


def instructor_sign_in(password: str, configured: str | None) -> Identity:
    if not configured:
        raise ClassroomError("no instructor password is set (CLASSROOM_INSTRUCTOR_PASSWORD)")
    if not hmac.compare_digest(str(password).encode(), configured.encode()):
        raise ClassroomError("that is not the instructor's password")
    return Identity("Instructor", INSTRUCTOR)


def reset_pin(runs_dir, actor: Identity, name: str) -> None:
    """The instructor forgets a student's PIN: the next sign-in with that name sets a new one."""
    require_instructor(actor, "reset a PIN")
    with runs.folder_lock(_folder(runs_dir)):
        accounts = _accounts(runs_dir)
        if accounts.pop(name.lower(), None) is None:
            raise ClassroomError(f"there is no student called “{name}”")
        runs.write_json(_folder(runs_dir) / "accounts.json", accounts)


def students(runs_dir) -> list[str]:
    try:
        return sorted(a["name"] for a in _accounts(runs_dir).values())
    except ClassroomError:
        return []  # sign-in says why


def require_instructor(actor: Identity | None, what: str) -> None:
    if actor is None or not actor.instructor:
        raise ClassroomError(f"only the instructor can {what}")


def may_change(actor: Identity | None, record: dict) -> bool:
    """Rename, delete, notes, Stop: the owner and the instructor. Without sign-in (actor None), anyone here."""
    if actor is None:
        return True
    return actor != VISITOR and (actor.instructor or record.get("owner") == actor.name)


# --- the class's rules ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    max_queued: int = 2  # waiting or training jobs per student
    paused: bool = False  # workers take no new job
    max_epochs: int | None = None
    max_images: int | None = None  # the image limit (0 = all) a student's run may not exceed


def rules(runs_dir) -> Rules:
    try:
        values = json.loads((Path(runs_dir) / FOLDER / "class.json").read_text())
        return Rules(**{k: v for k, v in values.items() if k in Rules.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return Rules()


def set_rules(runs_dir, actor: Identity, **changes) -> Rules:
    require_instructor(actor, "change the class's rules")
    new = Rules(**{**asdict(rules(runs_dir)), **changes})
    if not 1 <= new.max_queued <= 20:
        raise ClassroomError("each student may have 1 to 20 jobs in the queue")
    runs.write_json(_folder(runs_dir) / "class.json", asdict(new))
    return new


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


# --- assignments --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    preset: str
    text: str = ""
    allowed: dict = field(default_factory=dict)  # {field: [low, high]} the sliders students may move, within these
    epoch_budget: int | None = None
    deadline: str | None = None  # ISO date

    def starting_changes(self, class_rules: Rules | None = None) -> dict:
        """How the starting preset is shortened to fit the epoch budget and the class's limits, so that a student
        who leaves the kept sliders alone can always train."""
        from core.presets import get

        start = get(self.preset).config
        changes = {}
        epoch_caps = [cap for cap in (self.epoch_budget, class_rules.max_epochs if class_rules else None) if cap]
        if epoch_caps and start.epochs > min(epoch_caps):
            changes["epochs"] = min(epoch_caps)
        image_cap = class_rules.max_images if class_rules else None
        if image_cap and (start.limit == 0 or start.limit > image_cap):
            changes["limit"] = image_cap
        return changes

    def check(self, config, class_rules: Rules | None = None) -> None:
        """A config may differ from the (shortened) starting preset only in the allowed fields, within their ranges."""
        from core.presets import get

        start = get(self.preset).config.replace(**self.starting_changes(class_rules)).to_dict()
        for name, value in config.to_dict().items():
            if name == "seed" or start[name] == value:
                continue
            if name not in self.allowed:
                raise ClassroomError(f"this assignment keeps {name.replace('_', ' ')} at {start[name]}")
            low, high = self.allowed[name]
            if not (low <= value <= high):
                raise ClassroomError(f"this assignment allows {name.replace('_', ' ')} from {low} to {high}")


def _assignment_from(values: dict) -> Assignment:
    from core.config import FIELDS
    from core.presets import PRESETS

    try:
        a = Assignment(**{k: v for k, v in values.items() if k in Assignment.__dataclass_fields__})
    except TypeError as e:
        raise ClassroomError(f"not an assignment ({e})") from None
    if not isinstance(a.title, str) or not a.title.strip() or len(a.title) > 80:
        raise ClassroomError("an assignment needs a title of at most 80 characters")
    if not isinstance(a.id, str) or not ASSIGNMENT_ID.match(a.id):
        raise ClassroomError(f"{a.id!r} is not an assignment id")
    if a.preset not in PRESETS:
        raise ClassroomError(f"unknown starting preset {a.preset!r}")
    if a.epoch_budget is not None and (not isinstance(a.epoch_budget, int) or a.epoch_budget < 1):
        raise ClassroomError("an epoch budget is a whole number of epochs, at least 1 (or none)")
    for name, bounds in a.allowed.items():
        if name not in FIELDS or FIELDS[name].metadata["kind"] != "number" or len(bounds) != 2:
            raise ClassroomError(f"{name!r} cannot be an allowed slider (numbers only, with a [low, high] range)")
    if a.epoch_budget and "epochs" in a.allowed and a.allowed["epochs"][0] > a.epoch_budget:
        raise ClassroomError(f"the epochs slider starts at {a.allowed['epochs'][0]}, above the budget of {a.epoch_budget} "
                             "epochs: lower its range or raise the budget")
    return a


def save_assignment(runs_dir, actor: Identity, values: dict) -> Assignment:
    require_instructor(actor, "set assignments")
    a = _assignment_from({**values, "id": values.get("id") or "a-" + runs.new_run_id()})
    folder = _folder(runs_dir) / "assignments"
    folder.mkdir(exist_ok=True)
    runs.write_json(folder / f"{a.id}.json", asdict(a))
    return a


def assignments(runs_dir) -> list[Assignment]:
    out = []
    for path in sorted((Path(runs_dir) / FOLDER / "assignments").glob("a-*.json")):
        try:
            out.append(_assignment_from(json.loads(path.read_text())))
        except (OSError, ValueError, ClassroomError):
            continue  # a damaged file is skipped, not shown half
    return sorted(out, key=lambda a: a.id, reverse=True)


def import_assignment(runs_dir, actor: Identity, data: bytes) -> Assignment:
    """An assignment exported from another classroom (its JSON file)."""
    try:
        values = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ClassroomError(f"not an assignment file ({e})") from None
    if not isinstance(values, dict):
        raise ClassroomError("not an assignment file (expected a JSON object)")
    return save_assignment(runs_dir, actor, {**values, "id": None})


# --- the class board ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Standing:
    owner: str
    run: runs.Run
    accuracy: float
    low: float  # 95 % interval of the test accuracy
    high: float
    changed: dict  # {field: [preset's, run's]}: what this run changed from the assignment's starting preset
    distinguishable: bool  # its interval does not overlap the leader's (the leader: False)


def leaderboard(candidates: list[runs.Run], assignment: Assignment) -> list[Standing]:
    """Each student's best finished run for the assignment, best first; a run whose 95 % interval overlaps the
    leader's cannot be told apart from it on this test set."""
    from core.presets import get

    best: dict[str, Standing] = {}
    for r in candidates:
        if r.record.get("assignment") != assignment.id or r.status != "completed" or r.problem:
            continue
        try:
            m = r.metrics()
        except runs.RunError:
            continue
        low, high = 1 - m["test_error_ci95"][1], 1 - m["test_error_ci95"][0]
        owner = r.record.get("owner") or "?"
        changed = {k: v for k, v in get(assignment.preset).differences(r.config).items() if k != "seed"}
        if owner not in best or m["test_accuracy"] > best[owner].accuracy:
            best[owner] = Standing(owner, r, m["test_accuracy"], low, high, changed, False)
    ranked = sorted(best.values(), key=lambda s: -s.accuracy)
    if not ranked:
        return []
    leader = ranked[0]
    return [ranked[0]] + [Standing(s.owner, s.run, s.accuracy, s.low, s.high, s.changed, s.high < leader.low)
                          for s in ranked[1:]]
