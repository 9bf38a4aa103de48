"""Broker ids and the federation hop list (ivoa_broker.hops)."""

from __future__ import annotations

from pathlib import Path

from ivoa_broker.hops import broker_id, parse_hops


def test_a_configured_id_wins(tmp_path: Path) -> None:
    assert broker_id("node-a", "https://x.example.org", tmp_path) == "node-a"
    assert not (tmp_path / "broker-id").exists()


def test_the_id_is_derived_from_the_public_url(tmp_path: Path) -> None:
    one = broker_id(None, "https://x.example.org/", tmp_path)
    assert one == broker_id(None, "https://x.example.org", tmp_path)
    assert one != broker_id(None, "https://y.example.org", tmp_path)


def test_without_a_public_url_a_random_id_is_kept(tmp_path: Path) -> None:
    made = broker_id(None, None, tmp_path / "work")
    assert (tmp_path / "work" / "broker-id").read_text().strip() == made
    assert broker_id(None, None, tmp_path / "work") == made
    assert broker_id(None, None, tmp_path / "other") != made


def test_hop_headers_are_parsed_strictly() -> None:
    assert parse_hops(None) == []
    assert parse_hops(" ") == []
    assert parse_hops("a, b,c") == ["a", "b", "c"]
    assert parse_hops("a,,b") is None
    assert parse_hops("a b") is None
