"""``[store]`` in the config: today's ``server.database`` still works, ``sqlite:///``
URLs are relative to the config file, PostgreSQL URLs keep their password secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivoa_broker.config import ConfigProblems, load_settings
from ivoa_broker.store.db import redacted


def settings_of(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "broker.toml"
    path.write_text(text)
    return load_settings(path)


def test_without_store_the_server_database_is_used(tmp_path: Path) -> None:
    got = settings_of(tmp_path, '[server]\ndatabase = "jobs.db"\n')
    assert got.store_location == tmp_path / "jobs.db"


def test_sqlite_urls_relative_and_absolute(tmp_path: Path) -> None:
    assert settings_of(tmp_path, '[store]\nurl = "sqlite:///a/b.db"\n').store_location == (
        tmp_path / "a" / "b.db"
    )
    assert settings_of(tmp_path, '[store]\nurl = "sqlite:////srv/x.db"\n').store_location == (
        Path("/srv/x.db")
    )


def test_postgresql_url_is_secret(tmp_path: Path) -> None:
    url = "postgresql://broker:s3cret-pw@db.example.org:5433/broker"
    got = settings_of(tmp_path, f'[store]\nurl = "{url}"\n')
    assert got.store_location == url
    assert "s3cret-pw" not in repr(got)
    assert redacted(url) == "postgresql://broker:***@db.example.org:5433/broker"


def test_unknown_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigProblems, match=r"store\.url"):
        settings_of(tmp_path, '[store]\nurl = "mysql://x/y"\n')
