from __future__ import annotations

from pathlib import Path

import pytest

from ivoa_broker.config import ConfigError, Settings, load_settings


def test_defaults_serve_local_on_loopback_anonymously() -> None:
    s = Settings()
    assert list(s.adapters) == ["local"]
    assert s.anonymous is True
    assert s.server.database == Path("broker.db")
    assert s.with_server(host="0.0.0.0").anonymous is False


def test_file_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text(
        '[server]\ndatabase = "jobs.db"\n[auth]\ntoken_file = "t.txt"\n'
        '[adapters.remote]\nplugin = "ssh"\n[adapters.remote.config]\n'
        'host = "h"\npassphrase = "super-secret-passphrase"\n'
    )
    s = load_settings(cfg)
    assert s.server.database == tmp_path / "jobs.db"
    assert s.auth.token_file == tmp_path / "t.txt"
    assert s.adapters["remote"].config["host"] == "h"
    assert "super-secret-passphrase" not in repr(s)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[jobs]\nwait_cap = 0\n", "jobs.wait_cap"),
        ("[nope]\n", "nope"),
        ("[adapters.x]\nconfig = {}\n", "adapters.x.plugin"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg)
