"""Where the gradebook lives: the course's SQLite file by default, or a server database (PostgreSQL).

The address has one home: `gradebook.url` in the settings, which `--db URL` overrides for one
command. `normalise` checks it once, when the config is loaded (a URL SQLAlchemy parses, a scheme
we support), and writes it the way SQLAlchemy must get it: `postgresql://` becomes
`postgresql+psycopg://` (SQLAlchemy's bare `postgresql` means psycopg2; the grader ships psycopg 3).
`OutputFolder`/`NbgraderRoot` carry it from there (`NbgraderRoot.gradebook_url`); nobody else
builds a gradebook URL.

An OUT remembers which gradebook it was graded into (`OUT/nbgrader/gradebook_db.json`, no password),
so a later command pointed at another database is refused instead of showing an empty class or
writing grades beside the real ones. A password is never printed (`mask`); libpq reads one from
PGPASSWORD or ~/.pgpass, so the URL need not hold it.

This module imports SQLAlchemy and psycopg only when a URL is set: `alexnet-lab check` (the
student's install, without either) loads the same settings.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.errors import ConfigError, LabError

if TYPE_CHECKING:
    from autograder.course import NbgraderRoot

SCHEMES = ("sqlite", "postgresql")
"""The databases the gradebook may live in (nbgrader's models run on both)."""
DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}
"""What each scheme is handed to SQLAlchemy as: psycopg 3 for PostgreSQL (the grader extra has it)."""
EXAMPLE = "postgresql://USER@HOST:5432/DATABASE (password in PGPASSWORD or ~/.pgpass)"
RECORD = "gradebook_db.json"
"""In OUT/nbgrader: which gradebook this OUT was graded into (its `identity`, no password)."""
DEFAULT = "nbgrader/gradebook.db"
"""The record's word for the course's own SQLite file (OUT may move: its path is not recorded)."""
CONNECT_TIMEOUT_S = 10

_USERINFO = re.compile(r"(?P<head>://[^/@:]*):[^/]*@")  # user:password@ up to the host's last @


def mask(url: str) -> str:
    """The URL with its password (if any) replaced by ***: what every message and listing shows."""
    return _USERINFO.sub(lambda m: m.group("head") + ":***@", url or "")


def normalise(text: str, origin: str, setting: str = "gradebook.url") -> str:
    """The URL as SQLAlchemy must get it, or ConfigError (one line naming the setting, where it came
    from and the fix). Empty stays empty: the course's SQLite file. A relative SQLite path is made
    absolute here (formgrader runs in OUT/nbgrader, not where the command was typed)."""
    text = (text or "").strip()
    if not text:
        return ""
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError
    except ImportError:  # the student's install: nothing here opens a gradebook
        return text

    def bad(why: str) -> ConfigError:
        given = f"{setting} {mask(text)!r}" if origin == setting else f"{origin}: {setting} = {mask(text)!r}"
        return ConfigError(f"{given} {why}; write {EXAMPLE}, or "
                           "sqlite:////ABSOLUTE/PATH.db, or leave it empty for OUT/nbgrader/gradebook.db")

    if any(c.isspace() or not c.isprintable() for c in text):  # messages show it on one line
        raise bad("holds a space or a control character")
    try:
        url = make_url(text)
        port = url.port
    except (ArgumentError, ValueError):
        raise bad("is not a database URL") from None
    if port is not None and not 0 < port < 65536:
        raise bad(f"has port {port}, which no server listens on")
    scheme, _, driver = url.drivername.partition("+")
    scheme = "postgresql" if scheme == "postgres" else scheme  # the old spelling libpq still takes
    if scheme not in SCHEMES:
        raise bad(f"uses {scheme!r}, which the gradebook does not support (only {' or '.join(SCHEMES)})")
    if driver and DRIVERS[scheme] != f"{scheme}+{driver}" and not (scheme == "sqlite" and driver == "pysqlite"):
        raise bad(f"asks for the driver {driver!r}; the grader connects with {DRIVERS[scheme]} (drop '+{driver}')")
    if not url.database or url.database == ":memory:":
        raise bad("names no database" if scheme == "postgresql" else "names no file (an in-memory gradebook "
                                                                        "would be lost when the command ends)")
    url = url.set(drivername=DRIVERS[scheme])
    if scheme == "sqlite":
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    return url.render_as_string(hide_password=False)


def is_server(url: str) -> bool:
    return bool(url) and not url.startswith("sqlite")


def sqlite_file(url: str) -> Path | None:
    """The file of a (normalised) SQLite URL; None for a server database."""
    if is_server(url):
        return None
    return Path(url.split(":///", 1)[1])


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def describe(url: str) -> str:
    """Where a (normalised) URL points, for a message: the file, or 'PostgreSQL database D on HOST:PORT'."""
    if not is_server(url):
        return str(sqlite_file(url))
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host = f"[{parsed.host}]" if ":" in (parsed.host or "") else parsed.host or "the local socket"
    port = f":{parsed.port}" if parsed.port else ""
    user = f" as {parsed.username}" if parsed.username else ""
    host, user = _printable(host), _printable(user)  # %0A decoded is a line break: not in a one-line message
    return f"PostgreSQL database {parsed.database!r} on {host}{port}{user}"


def identity(root: NbgraderRoot) -> str:
    """Which gradebook `root` opens, without a password: DEFAULT, a file's path, or the server's address."""
    url = root.gradebook_url
    if not is_server(url):
        path = sqlite_file(url)
        return DEFAULT if path == root.gradebook.resolve() else f"sqlite:///{path}"
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return _printable(f"postgresql://{parsed.username + '@' if parsed.username else ''}{parsed.host or ''}"
                      f":{parsed.port or 5432}/{parsed.database}")


def recorded(root: NbgraderRoot) -> str | None:
    """The gradebook OUT was graded into (an `identity`), or None when nothing was graded there. An OUT
    graded before the record existed has the course's SQLite file."""
    try:
        data = json.loads((root.root / RECORD).read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("gradebook"), str):
            return data["gradebook"]
    except (OSError, ValueError):
        pass
    return DEFAULT if root.gradebook.is_file() else None


def _shown(ident: str) -> str:
    return "its own SQLite file (nbgrader/gradebook.db)" if ident == DEFAULT else ident


def _fix(ident: str) -> str:
    if ident == DEFAULT:
        return "run it without --db and with gradebook.url empty"
    return f"pass --db {ident} (or set gradebook.url to it)"


def check_same(root: NbgraderRoot) -> str:
    """LabError (one line) when `root` was graded into another gradebook than the one it would open
    now, or when nothing was graded there; else the recorded identity."""
    was = recorded(root)
    out = root.root.parent
    if was is None:
        raise LabError(f"{out}: no gradebook here ({describe(root.gradebook_url)} was never graded into from this "
                       f"folder); grade first: alexnet-lab grade INPUT... --out {out}")
    now = identity(root)
    if was != now:
        raise LabError(f"{out} was graded into {_shown(was)}, but this command would open {_shown(now)}; "
                       f"{_fix(was)}")
    return was


def claim(root: NbgraderRoot) -> None:
    """For `grade`, before anything runs: the gradebook OUT was graded into (`check_same`), reachable
    (`check_reachable`); a fresh OUT records the one it is graded into now."""
    fresh = recorded(root) is None
    if not fresh:
        check_same(root)
    if identity(root) == DEFAULT:  # OUT/nbgrader, grade's own, holds this gradebook (a server's: made once reached)
        root.root.mkdir(parents=True, exist_ok=True)
    check_reachable(root.gradebook_url)
    if fresh:
        from autograder.files import atomic_write

        root.root.mkdir(parents=True, exist_ok=True)
        atomic_write(root.root / RECORD, json.dumps({"gradebook": identity(root)}))


def check_reachable(url: str, setting: str = "gradebook.url / --db") -> None:
    """LabError (one line, naming the host, never the password) when the gradebook cannot be opened."""
    if not is_server(url):
        folder = sqlite_file(url).parent
        if not folder.is_dir():
            raise LabError(f"gradebook {sqlite_file(url)}: its folder {folder} does not exist; create it or fix "
                           f"{setting}")
        return
    try:
        import psycopg  # noqa: F401  (SQLAlchemy's postgresql+psycopg dialect)
    except ImportError:
        raise LabError(f"gradebook {describe(url)}: the PostgreSQL driver psycopg is not installed; "
                       "pip install 'alexnet-lab[grader]'") from None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = " ".join(str(cause).split())[:300] or type(cause).__name__
        password = make_url(url).password
        if password:
            reason = reason.replace(str(password), "***")
        raise LabError(f"gradebook {describe(url)}: cannot connect ({reason}); check the server, the user and "
                       f"the password (PGPASSWORD or ~/.pgpass), or fix {setting}") from None
    finally:
        engine.dispose()


def open_checked(root: NbgraderRoot) -> None:
    """For the commands that read a graded OUT (export, formgrader, groups): the same gradebook it was
    graded into, and reachable."""
    check_same(root)
    check_reachable(root.gradebook_url)
