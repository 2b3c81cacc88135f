"""A throwaway PostgreSQL server for tests and measurements: its own cluster in a temp dir,
listening on 127.0.0.1 (and a socket in that dir) on a free port, one database and one
password-protected user, stopped and deleted at the end.

The server binaries are Debian's `postgresql` package (/usr/lib/postgresql/<major>/bin, found
with `pg_config`-free globbing so no PATH set-up is needed). `initdb` refuses to run as root, so
as root every server command runs as the `postgres` system user (`runuser`), which then owns the
temp dir; as any other user it runs as that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.run.reaper import reap_zombies
from tests.support.processes import exempt_roots, free_port

SERVER_USER = "postgres"  # the Debian package's system user
START_TIMEOUT_S = 60


def bin_dir() -> Path | None:
    """The newest installed server's bin directory, or None when no server is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


class PgServer:
    """One cluster: `start()` creates and starts it, `stop()` stops it (it can be started again),
    `destroy()` stops it and deletes its files. `url` has the password; `safe_url` does not."""

    def __init__(self, bins: Path, user: str = "corebench", database: str = "corebench",
                 settings: dict[str, str] | None = None) -> None:
        self.bins = bins
        self.settings = dict(settings or {})  # server settings (-c name=value), e.g. for a measurement
        self.user, self.database = user, database
        self.password = secrets.token_hex(12)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="corebench-pg-"))
        self.data = self.root / "data"
        self._as = ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []
        # The server's superuser is the OS user it runs as, so peer auth on the socket admits it.
        self._super = SERVER_USER if self._as else pwd.getpwuid(os.geteuid()).pw_name
        if self._as:
            pw = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def safe_url(self) -> str:
        return f"postgresql://{self.user}:***@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *argv: str) -> None:
        proc = subprocess.run([*self._as, *argv], capture_output=True, text=True,
                              timeout=START_TIMEOUT_S, cwd=self.root, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[-800:]}")

    def init(self) -> None:
        pwfile = self.root / "superuser-password"
        pwfile.write_text(secrets.token_hex(12) + "\n")
        if self._as:
            pw = pwd.getpwnam(SERVER_USER)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run(str(self.bins / "initdb"), "-D", str(self.data), "-U", self._super,
                  f"--pwfile={pwfile}", "--auth-local=peer", "--auth-host=scram-sha-256",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        pwfile.unlink()
        # Peer auth on the socket lets the server user create the test role without a password.
        with (self.data / "pg_hba.conf").open("w") as f:
            f.write(f"local all {self._super} peer\nhost all all 127.0.0.1/32 scram-sha-256\n")

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        opts += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(str(self.bins / "pg_ctl"), "-D", str(self.data), "-o", opts,
                  "-l", str(self.root / "server.log"), "-w", "-t", str(START_TIMEOUT_S), "start")

    def create_database(self) -> None:
        sql = (f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}';"
               f"CREATE DATABASE {self.database} OWNER {self.user};")
        for statement in sql.split(";")[:-1]:
            self._run(str(self.bins / "psql"), "-h", str(self.root), "-p", str(self.port),
                      "-U", self._super, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q",
                      "-c", statement)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: disconnect clients, clean shutdown; `immediate`: abort)."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bins / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        return None

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def server(bins: Path, settings: dict[str, str] | None = None) -> Iterator[PgServer]:
    """A started cluster with its database and user; gone when the block ends, also on failure."""
    pg = PgServer(bins, settings=settings)
    try:
        pg.init()
        pg.start()
        pg.create_database()
        yield pg
    finally:
        pg.destroy()


def postgres_bins() -> Path:
    """The server binaries, for a test; it is skipped without them (or without the driver),
    except in CI (CI=true), where that is a failure: .ci/run installs both."""
    import pytest

    bins = bin_dir()
    missing = "PostgreSQL server binaries (Debian package `postgresql`)" if bins is None else ""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing = missing or "the PostgreSQL driver (pip install -c constraints.txt -e '.[postgres]')"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests, but {missing} is not installed")
        pytest.skip(f"{missing} not installed")
    assert bins is not None
    return bins


@contextlib.contextmanager
def postgres_server() -> Iterator[Any]:
    """A fresh cluster for a test, whose server processes the leftover check leaves alone while
    it lives; stopped and deleted at the end, also on failure."""
    with server(postgres_bins()) as pg:
        # pg_ctl daemonizes the postmaster, and as a subreaper pytest adopts it: the server and
        # its backends are the fixture's, not a leftover of the first test that uses it.
        pid = pg.postmaster_pid()
        roots = {pid} if pid is not None else set()
        exempt_roots.update(roots)
        try:
            yield pg
        finally:
            pg.destroy()
            exempt_roots.difference_update(roots)
            reap_zombies()


def assert_no_password(password: str, where: Path, *outputs: str) -> None:
    """The password is in no file under `where` (run.json, samples, trials, runs, report, logs)
    and in none of the printed outputs."""
    assert len(password) >= 8
    for path in where.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), f"password written to {path}"
    for out in outputs:
        assert password not in out, "password printed"
