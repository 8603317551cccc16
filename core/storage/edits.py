"""An owner's changes to a run: its name, notes and tags, or the whole run deleted. Each checks who acts first."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable

from core.storage.ownership import Actor, require_owner
from core.storage.runs import EDITABLE_FIELDS, Run, RunError, clean_name, update_record


def _edit(run: Run, actor: Actor | None, changes: Callable[[], dict]) -> None:
    """Write an owner's change to a run's record: only EDITABLE_FIELDS, which a relay from a Ray node keeps. Who may
    is checked before `changes` checks the input, so that someone else's run is refused whatever they typed."""
    require_owner(run, actor)
    if run.problem:
        raise RunError(f"run folder {run.path.name} is broken ({run.problem}); delete it instead")
    fields = changes()
    if not set(fields) <= set(EDITABLE_FIELDS):
        raise TypeError(f"not an owner's field: {sorted(set(fields) - set(EDITABLE_FIELDS))}")
    update_record(run.path, **fields)


def rename_run(run: Run, new_name: str, actor: Actor | None = None) -> None:
    _edit(run, actor, lambda: {"name": clean_name(new_name)})


MAX_NOTES_LENGTH, MAX_TAGS, MAX_TAG_LENGTH = 2000, 10, 30


def clean_tags(text_or_list) -> list[str]:
    """Tags from "dropout, baseline" or a list: trimmed, lower-case, unique, in order; refused if too many or too long."""
    items = text_or_list.split(",") if isinstance(text_or_list, str) else list(text_or_list or [])
    tags = list(dict.fromkeys(t.strip().lower() for t in items if isinstance(t, str) and t.strip()))
    if len(tags) > MAX_TAGS:
        raise RunError(f"a run can have at most {MAX_TAGS} tags (these are {len(tags)})")
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH or not tag.isprintable():
            raise RunError(f"the tag {tag[:40]!r} is not allowed: tags are printable and at most {MAX_TAG_LENGTH} characters")
    return tags


def annotate_run(run: Run, notes: str | None = None, tags=None, actor: Actor | None = None) -> None:
    """Set a run's notes and tags (one's own runs only); None leaves that part as it is."""
    def cleaned() -> dict:
        changes = {}
        if notes is not None:
            if not isinstance(notes, str) or len(notes) > MAX_NOTES_LENGTH:
                raise RunError(f"notes are text of at most {MAX_NOTES_LENGTH} characters")
            changes["notes"] = notes.strip()
        if tags is not None:
            changes["tags"] = clean_tags(tags)
        return changes

    _edit(run, actor, cleaned)


def delete_run(run: Run, actor: Actor | None = None) -> None:
    require_owner(run, actor)
    if run.status == "running":
        raise RunError(f"run {run.name!r} is still training; cancel it first")
    # Move aside first so a half-deleted folder never shows up as a run.
    trash = run.path.parent / f".deleting-{run.path.name}-{secrets.token_hex(2)}"
    os.replace(run.path, trash)
    shutil.rmtree(trash, ignore_errors=True)
