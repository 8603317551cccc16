"""The class's rules, set by the instructor: how many runs each student may have waiting, whether training is
paused, and the largest run a student may train (epochs, images, a batch-size floor). Kept in the runs folder's
`.classroom/class.json`; a class starts with limits that keep one student's run from holding the machine, which the
instructor can raise."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from core.classroom.accounts import FOLDER, ClassroomError, Identity, class_folder, require_instructor
from core.networks.config import field_range
from core.system.files import write_json


@dataclass(frozen=True)
class Rules:
    """None for a limit: no limit. The defaults are a new class's: 30 epochs on 20,000 images at batch 16 or more keeps
    every network of the report but CIFAR-100 Arch 2 and 3 under about ten minutes on a 2-core CPU (README)."""

    max_queued: int = 2  # waiting or training jobs per student
    paused: bool = False  # workers take no new job
    max_epochs: int | None = 30
    max_images: int | None = 20_000  # the image limit (0 = all) a student's run may not exceed
    min_batch_size: int | None = 16  # smaller batches take many more steps for the same epoch
    names_on_board: bool = True  # the projected board shows students' names, or "Student 1", "Student 2"…

    def bounds(self) -> dict[str, tuple[int, int]]:
        """The range each limited config field of a student's run must stay in ({field: (low, high)})."""
        out = {}
        if self.max_epochs:
            out["epochs"] = (1, self.max_epochs)
        if self.max_images:
            out["limit"] = (1, self.max_images)  # 0 (all images) is beyond any limit
        if self.min_batch_size:
            out["batch_size"] = (self.min_batch_size, int(field_range("batch_size")[1]))
        return out


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
    for name, value in (("max_epochs", new.max_epochs), ("max_images", new.max_images), ("min_batch_size", new.min_batch_size)):
        field = {"max_epochs": "epochs", "max_images": "limit", "min_batch_size": "batch_size"}[name]
        low, high = field_range(field)
        if value is not None and not (isinstance(value, int) and max(1, low) <= value <= high):
            raise ClassroomError(f"{name.replace('_', ' ')} must be a whole number from {max(1, int(low))} to {int(high):,}, "
                                 "or no limit")
    write_json(class_folder(runs_dir) / "class.json", asdict(new))
    return new
