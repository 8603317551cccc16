"""The settings a classroom relies on: Streamlit's, as `streamlit run` reads them from .streamlit/config.toml, and the
deployment's own (CLASSROOM_*), whose mistakes are one message."""

from __future__ import annotations

from pathlib import Path

from run_factory import texts
from streamlit import config

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_project_settings_keep_the_server_safe_and_responsive(monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)  # where `make run` starts the server, and where Streamlit looks for the file
    config.get_config_options(force_reparse=True)
    # docs/serving.md: no folder served, XSRF on, uploads bounded.
    assert config.get_option("server.enableStaticServing") is False
    assert config.get_option("server.enableXsrfProtection") is True
    assert config.get_option("server.maxUploadSize") == 200
    # docs/load-test.md: no full garbage collection after every rerun of every session.
    assert config.get_option("runner.postScriptGC") is False
    assert config.get_option("server.headless") is True
    # Issue 11: an idle tab must not cost a core (no file watcher), and students get no developer toolbar.
    assert config.get_option("server.fileWatcherType") == "none" and config.get_option("server.runOnSave") is False
    assert config.get_option("client.toolbarMode") == "viewer"


def test_a_bad_setting_is_one_message_not_a_traceback(make_app, monkeypatch):
    from ui import session

    monkeypatch.setenv("CLASSROOM_WORKERS", "0")
    session.settings.cache_clear()
    at = make_app().run()
    assert not at.exception
    assert "cannot start: CLASSROOM_WORKERS='0' is not a whole number of at least 1" in texts(at.error)
    assert not at.title and len(at.error) == 1  # Home itself never ran: the entry stopped first


def test_a_classroom_server_shows_an_error_without_its_traceback_and_a_laptop_shows_it_all(dirs, make_app, monkeypatch):
    from core.storage import listing
    from ui import navigation, session

    def broken(*args, **kwargs):
        raise RuntimeError("disk trouble in /srv/classroom/runs")

    rule = dirs["error_details"]
    assert rule("localhost", with_sign_in=False) == "full"
    assert rule("0.0.0.0", with_sign_in=False) == rule(None, False) == "none"
    assert rule("localhost", with_sign_in=True) == "none"
    monkeypatch.setattr(navigation, "error_details", dirs["error_details"])  # the real rule (conftest shows all)
    monkeypatch.setattr(listing, "list_runs", broken)
    monkeypatch.setenv("CLASSROOM_INSTRUCTOR_PASSWORD", "teach")
    session.settings.cache_clear()
    try:
        at = make_app().run()
        (shown,) = at.exception
        assert "/srv/classroom" not in shown.message and not shown.stack_trace
    finally:
        config.set_option("client.showErrorDetails", "full")  # Streamlit's default, for the tests after this one
