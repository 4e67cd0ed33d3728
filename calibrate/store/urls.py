"""Store URLs: which databases the store accepts, and how a URL becomes an engine.

Only two backends are supported because only two are tested: a SQLite file (the default,
nothing to install) and PostgreSQL through psycopg 3 (shared by a lab or a Dask cluster).
A URL is checked before anything touches the disk or the network, so that a typo never
leaves an empty database file behind. Messages show the URL with its password masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_STORE_URL = "sqlite:///calibration-data/store.sqlite"

# drivername -> dialect; plain "postgresql" would make SQLAlchemy pick psycopg2, which we do not install.
ALLOWED_SCHEMES = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql",
    "postgresql+psycopg": "postgresql",
}
CONNECT_TIMEOUT_S = 3


class StoreError(Exception):
    """The store cannot be opened or used; the message names the store URL and the problem."""


def mask_password(url: str) -> str:
    """`url` with any password replaced by ***, even when the URL does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


@dataclass(frozen=True)
class StoreUrl:
    """A checked store URL: `url` is what the engine connects to (SQLite paths made absolute, so
    that the same string works from another working directory, e.g. in a Dask worker)."""

    url: URL
    dialect: str
    sqlite_path: Path | None  # None for PostgreSQL and for an in-memory SQLite store

    @property
    def text(self) -> str:
        return self.url.render_as_string(hide_password=False)

    @property
    def masked(self) -> str:
        return self.url.render_as_string(hide_password=True)


def parse_store_url(url: str | None) -> StoreUrl:
    """Check `url` (None means DEFAULT_STORE_URL) without touching disk or network."""
    raw = DEFAULT_STORE_URL if url is None else url
    if not isinstance(raw, str) or not raw.strip():
        raise StoreError(f"Store URL must be a non-empty string such as {DEFAULT_STORE_URL!r}, but is {raw!r}.")
    try:
        parsed = make_url(raw.strip())
    except (ArgumentError, ValueError) as exc:
        raise StoreError(
            f"Store URL {mask_password(raw)!r} is not a database URL ({exc}); expected e.g. "
            f"{DEFAULT_STORE_URL!r} or 'postgresql+psycopg://user@host:5432/dbname'."
        ) from None
    dialect = ALLOWED_SCHEMES.get(parsed.drivername)
    if dialect is None:
        raise StoreError(
            f"Store URL {mask_password(raw)!r} has scheme {parsed.drivername!r}; allowed schemes are "
            f"{', '.join(sorted(ALLOWED_SCHEMES))}."
        )
    if dialect == "postgresql":
        if not parsed.database:
            raise StoreError(f"Store URL {mask_password(raw)!r} names no database; add '/dbname' after the host.")
        return StoreUrl(parsed.set(drivername="postgresql+psycopg"), dialect, None)
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return StoreUrl(parsed.set(drivername="sqlite", database=None), dialect, None)
    if database.startswith("file:") or parsed.query:
        raise StoreError(
            f"Store URL {mask_password(raw)!r}: SQLite stores are given as a plain path "
            f"(sqlite:///relative/path.sqlite or sqlite:////absolute/path.sqlite), without 'file:' or '?options'; "
            f"use read_only=True for a read-only store."
        )
    path = Path(database).expanduser().absolute()
    return StoreUrl(parsed.set(drivername="sqlite", database=str(path)), dialect, path)


def engine_url(store_url: StoreUrl, *, read_only: bool) -> URL:
    """The URL handed to create_engine: a SQLite file read-only is opened as a `mode=ro` URI so that
    SQLite itself refuses every write."""
    if store_url.dialect == "sqlite" and read_only and store_url.sqlite_path is not None:
        uri = f"file:{quote(str(store_url.sqlite_path))}?mode=ro"
        return URL.create("sqlite", database=uri, query={"uri": "true"})
    return store_url.url


def connect_args(store_url: StoreUrl, *, read_only: bool) -> dict:
    if store_url.dialect == "postgresql":
        args: dict = {"connect_timeout": CONNECT_TIMEOUT_S}
        if read_only:
            args["options"] = "-c default_transaction_read_only=on"
        return args
    return {}
