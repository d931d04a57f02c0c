"""A real PostgreSQL server for a test: `initdb` + `pg_ctl` in a temporary folder, stopped and removed after.

Debian's `postgresql` package (`make` installs it where it can) puts its programs in
/usr/lib/postgresql/<version>/bin, off PATH; they are looked for there first. initdb refuses to
run as root, so as root the cluster belongs to `nobody` (its folder chowned to it); otherwise to
the user running the tests. The server listens on a free loopback port and on a socket in its own
folder, with password authentication over TCP (so a test can check that a password never shows),
and trusts its own socket (so the test can make databases without one).

Skips (with the reason) where PostgreSQL cannot be found or started: never a mock.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from classes import free_port

SUPERUSER = "grader"
"""The cluster's superuser; the tests connect as it."""
UNPRIVILEGED = "nobody"
"""Who runs the cluster when the tests run as root (initdb refuses root)."""


def pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else PATH."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                    key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@dataclass
class Postgres:
    folder: Path
    port: int
    password: str
    bin: Path
    user: str | None
    """The account the server runs as (None: this process's own)."""

    def url(self, database: str, *, password: bool = True) -> str:
        """A SQLAlchemy URL for `database` over TCP (libpq's PGPASSWORD supplies the password when not in it)."""
        secret = f":{self.password}" if password else ""
        return f"postgresql://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL (with the password)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        """One of PostgreSQL's programs, run as the cluster's owner."""
        owner = {"user": self.user, "group": pwd.getpwnam(self.user).pw_gid} if self.user else {}
        done = subprocess.run([str(self.bin / command[0]), *command[1:]], capture_output=True, text=True,
                              timeout=120, cwd=self.folder, env={**os.environ, "LC_ALL": "C"}, **owner)
        if check and done.returncode:
            raise RuntimeError(f"{command[0]} exit {done.returncode}: {(done.stderr or done.stdout).strip()[-500:]}")
        return done


@contextlib.contextmanager
def running_postgres():
    """A started PostgreSQL (a `Postgres`), stopped and its folder removed on exit; pytest.skip without one."""
    bin_dir = pg_bin()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        pytest.skip("PostgreSQL not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH): "
                    "`make` installs Debian's postgresql package where it runs as root with apt")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'alexnet-lab[grader]'")
    user = UNPRIVILEGED if os.geteuid() == 0 else None
    # Short: the server's socket path (folder + /.s.PGSQL.PORT) must fit in 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="alexnet-lab-pg-"))
    server = Postgres(folder, free_port(), secrets.token_urlsafe(12), bin_dir, user)
    started = False
    try:
        if user:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        (folder / "pw").write_text(server.password)
        if user:
            os.chown(folder / "pw", entry.pw_uid, entry.pw_gid)
        os.chmod(folder / "pw", 0o600)
        server._run("initdb", "-D", str(folder / "data"), "-U", SUPERUSER, f"--pwfile={folder / 'pw'}",
                    "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-instructions")
        (folder / "pw").unlink()
        options = (f"-p {server.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c synchronous_commit=off")
        started = True
        done = server._run("pg_ctl", "-D", str(folder / "data"), "-l", str(folder / "log"), "-o", options,
                           "-w", "-t", "60", "start", check=False)
        if done.returncode:
            log = (folder / "log").read_text(errors="replace")[-800:] if (folder / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()} {log}")
        yield server
    finally:
        if started:
            server._run("pg_ctl", "-D", str(folder / "data"), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)
