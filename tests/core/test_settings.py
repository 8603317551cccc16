"""core.settings: the deployment's settings come from the environment once, with clear errors."""

from pathlib import Path

import pytest

from core.settings import Settings, SettingsError
from core.storage import runs


def test_without_variables_the_settings_are_the_defaults():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.runs_dir == Path("runs") and settings.pretrained_dir == runs.PRETRAINED_DIR
    assert settings.data_dir is None and settings.workers is None


def test_each_variable_sets_its_setting(tmp_path):
    settings = Settings.from_env({"CLASSROOM_RUNS_DIR": str(tmp_path / "r"), "CLASSROOM_PRETRAINED_DIR": str(tmp_path / "p"),
                                  "CLASSROOM_DATA_DIR": "relative/data", "CLASSROOM_WORKERS": "3"})
    assert settings.runs_dir == tmp_path / "r" and settings.pretrained_dir == tmp_path / "p" and settings.workers == 3
    assert Path(settings.data_dir).is_absolute() and settings.data_dir.endswith("relative/data")


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_worker_count_that_is_not_a_positive_whole_number_is_named(value):
    with pytest.raises(SettingsError, match=f"CLASSROOM_WORKERS='{value}'"):
        Settings.from_env({"CLASSROOM_WORKERS": value})


def test_the_cli_reports_a_bad_setting_in_one_line(run_cli, monkeypatch):
    monkeypatch.setenv("CLASSROOM_WORKERS", "many")
    status, _, err = run_cli(["runs"])
    assert status == 2 and "CLASSROOM_WORKERS='many'" in err and len(err.strip().splitlines()) == 1
