"""Ownership and "no request writes outside the runs folder", on the Compare and Inspect pages (AppTest).

A browser sends widget values over its websocket, and nothing stops it from sending a click on a button
the page drew disabled: so the tests also forge such clicks, and check that core.storage.runs refuses them.
Each test snapshots the whole temporary tree (runs and shipped runs) before and after.
"""

from __future__ import annotations

import io
import json
import stat
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

from fault_helpers import PROJECT_ROOT, folder_digest  # noqa: E402
from run_factory import fashion_run, texts, write_broken  # noqa: E402

from core.storage import (
    edits,
    listing,
    runs,  # noqa: E402
)


def tree(root: Path) -> tuple[dict, list]:
    """Every file with its hash, and every folder: what a request could have changed. Left out: the runs folder's
    .explain/, where Inspect asks the explainer for pictures (that is what viewing a run may write)."""
    def kept(path: str) -> bool:
        return not path.startswith("runs/.explain")

    files = {k: v for k, v in folder_digest(root).items() if kept(k)}
    return files, sorted(p for p in (str(q.relative_to(root)) for q in root.rglob("*") if q.is_dir()) if kept(p))


@pytest.fixture
def classroom(dirs, tmp_path):
    """One shipped run and one of one's own; the tmp tree around them is what must not change."""
    own, shipped = dirs["runs"], dirs["pretrained"]
    theirs = fashion_run(shipped, "shipped one", range(0, 10), 1)
    mine = fashion_run(own, "mine", range(0, 20), 2)
    return {"own": own, "shipped": shipped, "theirs": theirs, "mine": mine, "root": tmp_path}


def forge(widget, value):
    """Send a value for a widget as a hand-made websocket message could, disabled or not (AppTest's own
    set_value refuses disabled widgets, as a browser does)."""
    widget._value = value
    return widget


def test_shipped_run_is_read_only_even_to_a_forged_click(classroom, make_app, open_page):
    root, theirs = classroom["root"], classroom["theirs"]
    before = tree(root)
    at = open_page(make_app(), "pages/compare.py")
    at.selectbox(key="compare.manage_select").set_value(theirs.name).run()
    rename, delete = at.button(key="compare.rename"), at.button(key="compare.delete")
    name = at.text_input(key=f"compare.name_{theirs.name}")
    assert rename.disabled and delete.disabled and name.disabled
    assert "shipped" in texts(at.info)

    # A new name and clicks on the disabled buttons: the server drops values of disabled widgets.
    forge(name, "mine now")
    forge(at.button(key="compare.rename"), True)
    at.run()
    forge(at.button(key="compare.delete"), True)
    at.run()
    assert not at.exception and "for good?" not in texts(at.warning)
    assert "Renamed" not in texts(at.success) and "Deleted" not in texts(at.success)
    assert not [b for b in at.button if b.key == "compare.delete_yes"]
    assert tree(root) == before
    assert runs.read_run(theirs, shipped=True).name == "shipped one"


def test_core_refuses_changes_to_a_shipped_run_whatever_the_page_does(classroom, make_app, open_page):
    """Behind the page: the run listed from the shipped folder cannot be renamed or deleted."""
    root = classroom["root"]
    before = tree(root)
    (shipped,) = [r for r in listing.list_runs(classroom["own"], classroom["shipped"]) if r.shipped]
    for change in (lambda: edits.rename_run(shipped, "mine now"), lambda: edits.delete_run(shipped)):
        with pytest.raises(runs.RunError, match="shipped with the dashboard"):
            change()
    assert tree(root) == before


BAD_NAMES = ["../x", "a/b", "..", ".", "/etc/passwd", "..\\x", "x\x00y", "line\nbreak", " ", "C:\\x", "\\\\server\\share"]


def test_rename_with_path_characters_writes_nothing_anywhere(classroom, make_app, open_page):
    root, mine = classroom["root"], classroom["mine"]
    before = tree(root)
    at = open_page(make_app(), "pages/compare.py")
    at.selectbox(key="compare.manage_select").set_value(mine.name).run()
    for bad_name in BAD_NAMES:
        at.text_input(key=f"compare.name_{mine.name}").set_value(bad_name)
        at.button(key="compare.rename").click().run()
        assert not at.exception and "Cannot rename" in texts(at.error), bad_name
        assert tree(root) == before, bad_name
    assert not (PROJECT_ROOT / "x").exists() and not (PROJECT_ROOT / "a").exists()
    assert runs.read_run(mine).name == "mine"


def test_deleting_one_own_run_touches_nothing_else(classroom, make_app, open_page):
    root, mine, own = classroom["root"], classroom["mine"], classroom["own"]
    other = fashion_run(own, "other of mine", range(0, 30), 3)
    before_files, before_dirs = tree(root)
    at = open_page(make_app(), "pages/compare.py")
    at.selectbox(key="compare.manage_select").set_value(mine.name).run()
    at.button(key="compare.delete").click().run()
    at.button(key="compare.delete_yes").click().run()
    assert not at.exception and "Deleted" in texts(at.success)
    gone = str(mine.relative_to(root))
    after_files, after_dirs = tree(root)
    assert after_files == {k: v for k, v in before_files.items() if not k.startswith(gone + "/")}
    assert after_dirs == [d for d in before_dirs if d != gone]
    assert other.exists() and classroom["theirs"].exists()


def hostile_zip(entry: str, symlink: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(runs.RUN_FILE, json.dumps({"id": "x", "name": "x", "status": "completed", "config": {}, "created": ""}))
        info = zipfile.ZipInfo(entry)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd" if symlink else "owned")
    return buffer.getvalue()


HOSTILE_ZIPS = [
    ("../../escaped.txt", False, "points outside the run folder"),
    ("/tmp/escaped.txt", False, "points outside the run folder"),
    ("sub/../../escaped.txt", False, "points outside the run folder"),
    ("history.csv", True, "is a symbolic link"),
]


def test_hostile_import_through_the_page_writes_nothing(classroom, make_app, open_page):
    root = classroom["root"]
    before = tree(root)
    at = open_page(make_app(), "pages/compare.py")
    for i, (entry, symlink, message) in enumerate(HOSTILE_ZIPS):
        at.file_uploader[0].set_value((f"evil{i}.zip", hostile_zip(entry, symlink), "application/zip")).run()
        assert not at.exception and f"Could not import evil{i}.zip" in texts(at.error) and message in texts(at.error)
        assert tree(root) == before, entry
    assert not Path("/tmp/escaped.txt").exists() and not (root.parent / "escaped.txt").exists()


def test_run_id_from_the_address_bar_is_never_a_path(classroom, make_app, open_page):
    root = classroom["root"]
    before = tree(root)
    at = make_app()
    at.query_params["run"] = "../pretrained/" + classroom["theirs"].name
    open_page(at, "pages/inspect.py")
    assert not at.exception and "There is no run with id" in texts(at.warning)
    assert tree(root) == before


def test_malformed_run_folders_do_not_break_the_pages(classroom, make_app, open_page):
    """Folders the listing calls broken (bad types, JSON nested too deep) are listed apart; the rest works."""
    own = classroom["own"]
    for i, text in enumerate([json.dumps({"id": {"a": 1}, "name": 42, "status": "completed", "config": [], "created": 7}),
                              '{"id": ' + "[" * 50_000 + "]" * 50_000 + "}",
                              json.dumps({"id": "r", "name": "n", "status": "running", "config": {}, "created": "",
                                          "worker": "not an object"})]):
        folder = own / f"20260102-00000{i}-0badf{i}"
        folder.mkdir()
        (folder / runs.RUN_FILE).write_text(text)
    write_broken(own)
    for page in ("compare", "inspect"):
        at = open_page(make_app(), f"pages/{page}.py")
        assert not at.exception, at.exception[0].message
    at = open_page(make_app(), "pages/compare.py")
    listed = texts(at.markdown)
    assert "'id' is not text" in listed and "not valid JSON" in listed and "'worker' is not an object" in listed
    table = at.dataframe[0].value
    rows = sorted(f"{n} · {w} · test {a:.1f}%" for n, w, a in zip(table["Name"], table["Whose"], table["Test acc. (%)"]))
    assert rows == ["mine · yours · test 90.0%", "shipped one · shipped · test 95.0%"]
