"""Assignments: a starting preset, the sliders students may move (within ranges), an epoch budget and a deadline.
One JSON file each in the runs folder's `.classroom/assignments/`; written by the instructor only."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.classroom.accounts import FOLDER, ClassroomError, Identity, class_folder, require_instructor
from core.classroom.rules import Rules
from core.networks.config import FIELDS, TrainConfig, field_range
from core.networks.presets import PRESETS, get
from core.storage.runs import new_run_id
from core.system.files import write_json

ASSIGNMENT_ID = re.compile(r"^a-[\w-]{1,60}$")  # also its file's name, so no path can be made from it


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
        start = get(self.preset).config
        changes = {}
        epoch_caps = [cap for cap in (self.epoch_budget, class_rules.max_epochs if class_rules else None) if cap]
        if epoch_caps and start.epochs > min(epoch_caps):
            changes["epochs"] = min(epoch_caps)
        image_cap = class_rules.max_images if class_rules else None
        if image_cap and (start.limit == 0 or start.limit > image_cap):
            changes["limit"] = image_cap
        floor = class_rules.min_batch_size if class_rules else None
        if floor and start.batch_size < floor:
            changes["batch_size"] = floor
        for name, (low, high) in self.allowed.items():  # a slider the assignment narrows starts inside its range
            value = changes.get(name, getattr(start, name))
            if not low <= value <= high:
                changes[name] = type(value)(min(max(value, low), high))
        return changes

    def start(self, class_rules: Rules | None = None) -> TrainConfig:
        """Where every student starts: the preset, shortened as `starting_changes` says."""
        return get(self.preset).config.replace(**self.starting_changes(class_rules))

    def changes(self, config: dict, class_rules: Rules | None = None) -> dict[str, list]:
        """{field: [the start's value, the config's]} for each setting a student moved from the start (the seed
        aside): what the class board shows a run changed."""
        return {k: v for k, v in self.start(class_rules).differences(config).items() if k != "seed"}

    def check(self, config, class_rules: Rules | None = None) -> None:
        """A config may differ from the (shortened) starting preset only in the allowed fields, within their ranges."""
        start = self.start(class_rules).to_dict()
        for name, value in config.to_dict().items():
            if name == "seed" or start[name] == value:
                continue
            if name not in self.allowed:
                raise ClassroomError(f"this assignment keeps {name.replace('_', ' ')} at {start[name]}")
            low, high = self.allowed[name]
            if not (low <= value <= high):
                raise ClassroomError(f"this assignment allows {name.replace('_', ' ')} from {low} to {high}")


def _assignment_from(values: dict) -> Assignment:
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
        low, high = bounds
        field_low, field_high = field_range(name)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bounds) or not (
                field_low <= low <= high <= field_high):
            raise ClassroomError(f"the range of {name.replace('_', ' ')} must run from a low to a high value within "
                                 f"{field_low:g} to {field_high:g}, got {low!r} to {high!r}")
    if a.epoch_budget and "epochs" in a.allowed and a.allowed["epochs"][0] > a.epoch_budget:
        raise ClassroomError(f"the epochs slider starts at {a.allowed['epochs'][0]}, above the budget of {a.epoch_budget} "
                             "epochs: lower its range or raise the budget")
    return a


def save_assignment(runs_dir, actor: Identity, values: dict) -> Assignment:
    require_instructor(actor, "set assignments")
    a = _assignment_from({**values, "id": values.get("id") or "a-" + new_run_id()})
    folder = class_folder(runs_dir) / "assignments"
    folder.mkdir(exist_ok=True)
    write_json(folder / f"{a.id}.json", asdict(a))
    return a


def delete_assignment(runs_dir, actor: Identity, assignment_id: str) -> None:
    """The instructor removes an assignment; its runs stay, and its board with it goes."""
    require_instructor(actor, "delete assignments")
    if not isinstance(assignment_id, str) or not ASSIGNMENT_ID.match(assignment_id):
        raise ClassroomError(f"{assignment_id!r} is not an assignment id")
    path = class_folder(runs_dir) / "assignments" / f"{assignment_id}.json"
    if not path.is_file():
        raise ClassroomError("that assignment is already gone")
    path.unlink()


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
