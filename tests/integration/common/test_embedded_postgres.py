"""The embedded Postgres asks for a password: code that can reach loopback TCP cannot log in."""

from __future__ import annotations

import psycopg
import pytest

from capstan.devstack import DevStackError
from capstan.devstack.ports import free_port
from capstan.devstack.postgres import EmbeddedPostgres


def _login(port: int, password: str | None) -> None:
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=5,
                         **({"password": password} if password is not None else {})) as conn:
        conn.execute("SELECT 1")


def test_logins_without_the_password_are_refused(tmp_path):
    postgres = EmbeddedPostgres(tmp_path, free_port(), password="right horse battery", database="demo")
    postgres.start()
    try:
        _login(postgres.port, "right horse battery")
        for wrong in (None, "", "postgres"):
            with pytest.raises(psycopg.OperationalError):
                _login(postgres.port, wrong)
    finally:
        postgres.stop()


def test_a_data_dir_made_with_trust_is_moved_to_passwords(tmp_path):
    port = free_port()
    postgres = EmbeddedPostgres(tmp_path, port, password="kept-password")
    postgres.start()
    postgres.stop()
    hba = postgres.pgdata / "pg_hba.conf"  # what an older Capstan's initdb --auth=trust left behind
    hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))

    postgres.start()
    try:
        with pytest.raises(psycopg.OperationalError):
            _login(port, None)
        _login(port, "kept-password")
    finally:
        postgres.stop()
    again = EmbeddedPostgres(tmp_path, port, password="another-password")
    with pytest.raises(DevStackError, match="refuses the password"):
        again.start()
    again.stop()
