"""Who is who in a class: students with a name and PIN, the instructor with a password, and the signed tokens that
let a reload or a new tab present the same identity again.

Everything lives in the runs folder's `.classroom/`:

    secret            the key that signs identities (made at first start, or $CLASSROOM_SECRET)
    accounts.json     {name: {salt, hash, created}}: PINs only as scrypt hashes

An identity is a signed token "name|role|expires|stamp.signature" (HMAC-SHA256 with the secret); a forged, edited
or expired one is refused. An Identity is the `Actor` that core.storage and core.queue ask what it may change.
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
from dataclasses import dataclass
from pathlib import Path

from core.queue.policy import PolicyError
from core.storage.runs import now_iso
from core.system.files import write_json
from core.system.locks import folder_lock

FOLDER = ".classroom"


TOKEN_DAYS = 30


NAME_PATTERN = re.compile(r"^[\w][\w .'-]{0,39}$")


PIN_PATTERN = re.compile(r"^[0-9]{4,8}$")


# Wrong PINs: after every MAX_PIN_FAILURES in a row the name is closed for PIN_LOCKOUT_S, so that guessing a
# 4-digit PIN takes days, not the minutes scrypt alone allows.
MAX_PIN_FAILURES, PIN_LOCKOUT_S = 5, 300


class ClassroomError(PolicyError):
    """Sign-in refused, a rule broken, a bad assignment: the message says why and what to do."""


@dataclass(frozen=True)
class Identity:
    name: str
    role: str = "student"  # or "instructor"

    @property
    def instructor(self) -> bool:
        return self.role == "instructor"

    @property
    def signed_in(self) -> bool:
        return self.role != VISITOR_ROLE

    def may_act_for(self, owner: str | None) -> bool:
        """Rename, delete, notes, Stop, continue what `owner` owns (core.storage.ownership asks it): the owner
        and the instructor."""
        return self.signed_in and (self.instructor or owner == self.name)


INSTRUCTOR = "instructor"


# Who is signed out in a class with sign-in: may look, change nothing. (None is the dashboard without sign-in,
# where one person on one laptop owns everything; the pages pass VISITOR, never None, once sign-in is on.)
VISITOR_ROLE = "visitor"
VISITOR = Identity("", VISITOR_ROLE)


def class_folder(runs_dir) -> Path:
    path = Path(runs_dir) / FOLDER
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret(runs_dir, environ=os.environ) -> bytes:
    """The signing key: $CLASSROOM_SECRET, else the one kept beside the runs (made once, readable by the owner only)."""
    if environ.get("CLASSROOM_SECRET"):
        return environ["CLASSROOM_SECRET"].encode()
    path = class_folder(runs_dir) / "secret"
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
    path = class_folder(runs_dir) / "accounts.json"
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
    with folder_lock(class_folder(runs_dir)):  # two students claiming names at once must not lose one
        accounts = _accounts(runs_dir)
        if key in accounts:
            account = accounts[key]
            if wait := _locked_out(account):
                raise ClassroomError(f"too many wrong PINs for “{name}”: try again in {math.ceil(wait / 60)} minutes, "
                                     "or ask the instructor to reset the PIN")
            if hmac.compare_digest(account["hash"], _hash(pin, bytes.fromhex(account["salt"]))):
                if account.pop("failures", 0):
                    account.pop("locked_until", None)
                    write_json(class_folder(runs_dir) / "accounts.json", accounts)
                return Identity(account["name"])
            account["failures"] = account.get("failures", 0) + 1
            if account["failures"] % MAX_PIN_FAILURES == 0:
                account["locked_until"] = time.time() + PIN_LOCKOUT_S
            write_json(class_folder(runs_dir) / "accounts.json", accounts)
            raise ClassroomError(f"the name “{name}” is taken and this PIN does not match; if it is yours, ask the "
                                 "instructor to reset your PIN")
        salt = secrets.token_bytes(16)
        accounts[key] = {"name": name, "salt": salt.hex(), "hash": _hash(pin, salt), "created": now_iso()}
        write_json(class_folder(runs_dir) / "accounts.json", accounts)
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
    with folder_lock(class_folder(runs_dir)):
        accounts = _accounts(runs_dir)
        if accounts.pop(name.lower(), None) is None:
            raise ClassroomError(f"there is no student called “{name}”")
        write_json(class_folder(runs_dir) / "accounts.json", accounts)


def students(runs_dir) -> list[str]:
    try:
        return sorted(a["name"] for a in _accounts(runs_dir).values())
    except ClassroomError:
        return []  # sign-in says why


def require_instructor(actor: Identity | None, what: str) -> None:
    if actor is None or not actor.instructor:
        raise ClassroomError(f"only the instructor can {what}")
