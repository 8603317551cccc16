"""The class's rules, set by the instructor: how many runs each student may have waiting, whether training is
paused, and the largest runs a student may train. Kept in the runs folder's `.classroom/class.json`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from core.classroom.accounts import FOLDER, ClassroomError, Identity, class_folder, require_instructor
from core.system.files import write_json


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
    write_json(class_folder(runs_dir) / "class.json", asdict(new))
    return new
