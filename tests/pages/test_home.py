"""The Home page in AppTest: backend and device, datasets, saved runs, the way to every page; no TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from core.system.files import write_json

ROOT = Path(__file__).resolve().parents[2]
HOME = "pages/home.py"


def test_before_any_worker_the_device_is_what_the_machine_has_and_the_backend_the_configured_one(app, open_page,
                                                                                                 monkeypatch):
    from core.training import device

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setattr(device, "gpu_names", lambda: [])
    at = open_page(app, HOME)
    shown = [m.value for m in at.markdown]
    assert any(v.startswith("#### CPU (") and v.endswith(" cores)") for v in shown)
    assert not any("detecting" in v for v in shown)
    assert any("with the **jax** backend" in v for v in shown)
    monkeypatch.setattr(device, "gpu_names", lambda: ["NVIDIA H200", "NVIDIA H200"])
    assert any(m.value == "#### 2 × NVIDIA H200" for m in at.run().markdown)


def test_a_workers_published_backend_and_device_are_shown(app, dirs, open_page):
    folder = dirs["runs"] / ".workers"
    folder.mkdir(parents=True)
    env = {"backend": "tensorflow", "device": "NVIDIA H100 80GB HBM3", "keras": "3.15.1"}
    write_json(folder / "slot-0.json", {"slot": 0, "pid": os.getpid(), "environment": env})
    at = open_page(app, HOME)
    assert any(m.value == "#### NVIDIA H100 80GB HBM3" for m in at.markdown)
    assert any("**tensorflow** backend · 1 training worker ready" in m.value for m in at.markdown)


def test_a_ray_dispatcher_in_place_of_workers_shows_its_cluster(app, dirs, open_page):
    folder = dirs["runs"] / ".workers"
    folder.mkdir(parents=True)
    env = {"device": "GPU · Ray cluster at 10.0.0.5:6379: 3 nodes, 48 CPUs, 3 GPUs", "backend": "jax", "host": "head",
           "ray": "10.0.0.5:6379"}  # what core.queue.cluster.serve_ray publishes: no Keras version
    write_json(folder / "slot-ray.json", {"slot": "ray", "pid": os.getpid(), "environment": env})
    at = open_page(app, HOME)
    assert not at.exception
    assert any(m.value == f"#### {env['device']}" for m in at.markdown)
    assert any("Ray cluster with the **jax** backend" in m.value for m in at.markdown)


def test_datasets_say_where_they_are_or_how_to_get_them(app, dirs, open_page):
    at = open_page(app, HOME)
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "**Fashion-MNIST** · 10 classes" in text and f"data directory {dirs['data']}" in text
    assert "**CIFAR-100** is not on this machine" in text and "To get it: put cifar100.npz" in text


def test_saved_runs_are_counted_by_where_they_come_from(app, dirs, open_page, write_run):
    write_run(dirs["runs"], name="mine")
    write_run(dirs["pretrained"], name="shipped one")
    write_run(dirs["pretrained"], name="shipped two", preset="fmnist-arch2-tr1")
    at = open_page(app, HOME)
    assert {m.label: m.value for m in at.metric}["Runs"] == "3"
    assert any("**1** trained here · **2** shipped" in m.value for m in at.markdown)


def test_every_other_page_has_a_link(app, open_page):
    at = open_page(app, HOME)
    links = {link.proto.page for link in at.get("page_link")}
    assert links == {"train", "compare", "inspect", "report", "classroom", "board"}


def test_home_does_not_import_tensorflow_or_keras(dirs):
    """A fresh process: the page must load without Keras (TensorFlow takes seconds to import)."""
    script = textwrap.dedent(f"""
        import sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(ROOT / "streamlit_app.py")!r}, default_timeout=60)
        at.run()
        assert not at.exception, at.exception
        assert at.title[0].value == "How neural networks train"
        heavy = sorted(m for m in ("tensorflow", "keras", "jax") if m in sys.modules)
        assert not heavy, heavy
    """)
    env = {**os.environ, "CLASSROOM_RUNS_DIR": str(dirs["runs"]), "CLASSROOM_PRETRAINED_DIR": str(dirs["pretrained"])}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_students_see_the_assignments_on_home(app, dirs, open_page):
    from core import classroom

    classroom.save_assignment(dirs["runs"], classroom.Identity("Instructor", "instructor"),
                              {"title": "Find the best dropout", "preset": "fmnist-arch1-tr1", "text": "Try 0 to 0.5.",
                               "allowed": {"dropout": [0.0, 0.5]}, "epoch_budget": 10})
    at = open_page(app, HOME)
    shown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "Find the best dropout" in shown and "at most 10 epochs" in shown


def test_with_sign_in_home_says_who_is_signed_in_with_their_name_as_typed(dirs, make_app, open_page, monkeypatch):
    from test_class_pages import PASSWORD, signed_in

    from core import formatting as fmt
    from core.classroom import Identity
    from ui import session

    monkeypatch.setenv("CLASSROOM_INSTRUCTOR_PASSWORD", PASSWORD)
    session.settings.cache_clear()
    typed = "__Ann__ o'Brien-Smith_2"  # a name the class accepts that Markdown would make bold
    at = open_page(signed_in(make_app(), Identity(typed)), HOME)
    assert f"Signed in as **{fmt.text(typed)}**" in [m.value.split(": ", 1)[-1] for m in at.markdown]
    teacher = open_page(signed_in(make_app(), Identity("Instructor", "instructor")), HOME)
    assert any(m.value.endswith("Signed in as the instructor") for m in teacher.markdown)


def test_with_sign_in_and_nobody_signed_in_home_links_to_the_class_page(dirs, app, open_page, monkeypatch):
    from test_class_pages import PASSWORD

    from ui import session

    monkeypatch.setenv("CLASSROOM_INSTRUCTOR_PASSWORD", PASSWORD)
    session.settings.cache_clear()
    at = open_page(app, HOME)
    assert any(m.value.endswith("Nobody is signed in on this browser.") for m in at.markdown)
    assert any(link.proto.page == "classroom" and link.proto.label == "Sign in on the class page"
               for link in at.get("page_link"))


def test_without_sign_in_home_says_nothing_of_signing_in(app, open_page):
    at = open_page(app, HOME)
    assert not any("signed in" in m.value.lower() for m in at.markdown)
