"""ClickHouse DDL, versioned: `schemas/clickhouse/NNN_name.sql`, applied in NNN order, each once.

Input: the .sql files and placeholder values. Output: `Migration`s whose `statements(params)` are
ready to send. Pure (no client import): `streams.store.apply_migrations` does the I/O and records
applied versions in `<database>.schema_migrations`.

Rules: never edit a migration that has been released; add a new NNN file (ALTER ..., CREATE ... IF
NOT EXISTS). Every statement must be safe to re-run, so a start-up interrupted half-way through a
migration simply re-applies it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "clickhouse"
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

DEFAULT_PARAMS: dict[str, str] = {
    "database": "callpulse",
    "turns_ttl_days": "90",
    "windows_ttl_days": "90",
    "dead_letters_ttl_days": "30",
    "upset_threshold": "0.5",
    "rollup_refresh": "1 MINUTE",
    "rollup_lookback_days": "2",
}
"""Placeholder values; override per deployment (see `streams.store.apply_migrations`)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self, params: dict[str, str] | None = None) -> list[str]:
        """The file's statements with placeholders filled (comments and blank lines dropped)."""
        values = {**DEFAULT_PARAMS, **(params or {})}
        text = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))

        def fill(m: re.Match) -> str:
            key = m.group(1)
            if key not in values:
                raise KeyError(f"migration {self.version:03d}_{self.name}: no value for {{{key}}}")
            return str(values[key])

        text = _PLACEHOLDER.sub(fill, text)
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", text) if s.strip()]


def load_migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Every NNN_name.sql in version order; duplicate versions are an error."""
    found: dict[int, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        m = _FILE.match(path.name)
        if not m:
            raise ValueError(f"{path.name}: migration files are named NNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise ValueError(f"two migrations with version {version:03d}")
        found[version] = Migration(version, m.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


def pending(applied: set[int], migrations: list[Migration] | None = None) -> list[Migration]:
    """Migrations whose version is not in `applied`, in order."""
    return [m for m in (load_migrations() if migrations is None else migrations) if m.version not in applied]
