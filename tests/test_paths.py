"""Our own XDG rules must give exactly what platformdirs gives on this platform."""

import platformdirs
import pytest

from credhelper.local import paths


@pytest.mark.parametrize("xdg", [None, "", "   ", "/custom/place"])
def test_xdg_dirs_equal_platformdirs(monkeypatch, tmp_path, xdg):
    monkeypatch.setenv("HOME", str(tmp_path))
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        if xdg is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, xdg)
    assert paths.config_dir() == platformdirs.user_config_dir("credhelper", appauthor=False)
    assert paths.data_dir() == platformdirs.user_data_dir("credhelper", appauthor=False)
    assert paths.state_dir() == platformdirs.user_state_dir("credhelper", appauthor=False)


def test_config_file_can_be_named_in_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CREDHELPER_CONFIG", str(tmp_path / "other.toml"))
    assert paths.config_file() == str(tmp_path / "other.toml")
