"""The [auth] section: the documented examples load; secrets stay out of reprs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivoa_broker.auth.settings import OIDCSection
from ivoa_broker.config import ConfigProblems, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _block_after(text: str, marker: str) -> str:
    found = re.search(re.escape(marker) + r".*?```toml\n(.*?)```", text, re.S)
    assert found, marker
    return found.group(1)


@pytest.mark.parametrize(
    ("document", "marker"),
    [
        ("README.md", "Identity beyond the token file"),
        ("docs/operating.md", "## Identity: who may call"),
    ],
)
def test_documented_examples_load(tmp_path: Path, document: str, marker: str) -> None:
    path = tmp_path / "broker.toml"
    path.write_text(_block_after((ROOT / document).read_text(), marker))
    settings = load_settings(path)
    assert settings.auth.oidc[0].issuer == "https://iam.example.org/"
    assert settings.adapters["hpc"].access().allow_groups == ["astro"]
    assert settings.auth.limits.active_jobs == 10


def test_relative_secret_file_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "broker.toml"
    path.write_text(
        '[[auth.oidc]]\nissuer = "https://iam.example.org/"\nclient_id = "b"\n'
        'client_secret_file = "secret.txt"\n'
    )
    (tmp_path / "secret.txt").write_text("s3cret-value\n")
    oidc = load_settings(path).auth.oidc[0]
    assert oidc.client_secret_file == tmp_path / "secret.txt"
    assert oidc.secret() == "s3cret-value"
    inline = OIDCSection(issuer="https://x/", client_secret="hidden-value")  # type: ignore[arg-type]
    assert "hidden-value" not in repr(inline)
    for bad in ('algorithms = ["none"]', 'algorithms = ["HS256"]', 'issuer = "iam.example.org"'):
        path.write_text(f'[[auth.oidc]]\nissuer = "https://iam.example.org/"\n{bad}\n')
        if bad.startswith("issuer"):
            path.write_text(f"[[auth.oidc]]\n{bad}\n")
        with pytest.raises(ConfigProblems, match=r"auth\.oidc\.0"):
            load_settings(path)


def test_preflight_counts_oidc_as_an_identity_and_checks_its_secret_file(tmp_path: Path) -> None:
    from ivoa_broker import preflight

    path = tmp_path / "broker.toml"
    path.write_text(
        '[auth]\nanonymous = false\n[[auth.oidc]]\nissuer = "https://iam.example.org/"\n'
        'client_id = "b"\nclient_secret_file = "missing.txt"\n'
    )
    problems = preflight.check(load_settings(path), str(path)).problems
    assert problems == [
        f"{path}: auth.oidc.0.client_secret_file: cannot read {tmp_path}/missing.txt"
    ]
    (tmp_path / "missing.txt").write_text("s\n")
    assert preflight.check(load_settings(path), str(path)).ok
