"""ClickHouse DDL files: ordered, every placeholder filled, statements split cleanly (no client)."""

from __future__ import annotations

import re

import pytest

from schemas.migrations import DEFAULT_PARAMS, Migration, load_migrations, pending


def test_migrations_are_numbered_in_order():
    ms = load_migrations()
    assert [m.version for m in ms] == sorted(m.version for m in ms)
    assert ms[0].version == 1 and len({m.version for m in ms}) == len(ms)


def test_every_placeholder_is_filled_and_statements_are_ddl():
    for m in load_migrations():
        stmts = m.statements({"database": "cp_test", "turns_ttl_days": "7"})
        assert stmts
        for s in stmts:
            assert not re.search(r"\{[a-z_]+\}", s), s
            assert re.match(r"^(CREATE|ALTER|DROP|INSERT|RENAME)\b", s), s[:60]
            assert "callpulse." not in s  # every name goes through {database}
    turns = next(s for s in load_migrations()[0].statements({"turns_ttl_days": "7"}) if ".turns\n" in s)
    assert "INTERVAL 7 DAY" in turns


def test_missing_placeholder_value_is_an_error():
    m = Migration(9, "x", "CREATE TABLE {database}.t (a UInt8) ENGINE = Memory TTL {nope}")
    with pytest.raises(KeyError, match="nope"):
        m.statements()


def test_pending_and_checksums():
    ms = load_migrations()
    assert pending({m.version for m in ms}) == []
    assert pending(set()) == ms
    assert len({m.checksum for m in ms}) == len(ms)
    assert set(DEFAULT_PARAMS) >= {"database", "turns_ttl_days"}
