"""`capstan token`: a development JWT for /api/v1, signed with the API's HS256 secret."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from models.platform_v1.roles import Role

SECRET = "token-command-secret-0123456789abcdef"


def capstan_token(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``capstan token`` as a user runs it, with only the settings given here (none of the shell's)."""
    clean = {name: value for name, value in os.environ.items()
             if not name.startswith("CAPSTAN_") and name not in ("JWT_SECRET", "AUTH_MODE")}
    return subprocess.run([sys.executable, "-m", "capstan", "token", *args], cwd=cwd, env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_it_prints_a_token_with_the_roles_and_workspaces_asked_for(tmp_path):
    done = capstan_token("--role", "ops_engineer", "--role", "billing", "--workspace", "ws_a", "--workspace", "ws_b",
                         "--sub", "alice", "--ttl", "120", cwd=tmp_path, CAPSTAN_JWT_SECRET=SECRET)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    assert "\n" not in printed, "one line: fit for $(capstan token …)"
    claims = jwt.decode(printed, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["roles"] == ["ops_engineer", "billing"]
    assert claims["workspaces"] == ["ws_a", "ws_b"]
    assert claims["exp"] - claims["iat"] == 120
    assert abs(claims["iat"] - time.time()) < 60
    assert "iss" not in claims and "aud" not in claims


def test_the_legacy_jwt_secret_and_the_issuer_and_audience_of_the_settings_are_used(tmp_path):
    done = capstan_token("--role", "viewer", cwd=tmp_path, JWT_SECRET=SECRET, CAPSTAN_JWT_ISSUER="https://id.test/",
                         CAPSTAN_JWT_AUDIENCE="capstan-api")
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), SECRET, algorithms=["HS256"], audience="capstan-api",
                        issuer="https://id.test/")
    assert claims["roles"] == ["viewer"] and claims["workspaces"] == [] and claims["sub"] == "dev"


def test_it_signs_with_the_key_capstan_dev_kept_when_no_secret_is_set(tmp_path):
    data_dir = tmp_path / "dev-data"
    data_dir.mkdir()
    (data_dir / "jwt.secret").write_text("kept-by-capstan-dev-0123456789abcdef\n")
    done = capstan_token("--role", "msp_admin", cwd=tmp_path, CAPSTAN_DATA_DIR=str(data_dir))
    assert done.returncode == 0, done.stderr
    assert jwt.decode(done.stdout.strip(), "kept-by-capstan-dev-0123456789abcdef", algorithms=["HS256"])["roles"] == \
        ["msp_admin"]


def test_without_a_secret_it_exits_2_and_says_what_to_set(tmp_path):
    done = capstan_token("--role", "viewer", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "CAPSTAN_JWT_SECRET" in done.stderr and "capstan dev" in done.stderr
    assert "Traceback" not in done.stderr


def test_every_role_and_only_the_roles_are_accepted(tmp_path):
    refused = capstan_token("--role", "superuser", cwd=tmp_path, CAPSTAN_JWT_SECRET=SECRET)
    assert refused.returncode == 2 and "invalid choice: 'superuser'" in refused.stderr
    offered = refused.stderr.split("choose from", 1)[1]
    assert {role.value for role in Role} == {name.strip(" '\n)") for name in offered.split(",")}


@pytest.mark.parametrize("ttl", ["0", "-5", "soon"])
def test_a_ttl_that_is_not_a_positive_number_of_seconds_is_refused(tmp_path, ttl):
    done = capstan_token("--role", "viewer", "--ttl", ttl, cwd=tmp_path, CAPSTAN_JWT_SECRET=SECRET)
    assert done.returncode == 2 and "--ttl" in done.stderr and done.stdout == ""


def test_a_role_is_required(tmp_path):
    done = capstan_token(cwd=tmp_path, CAPSTAN_JWT_SECRET=SECRET)
    assert done.returncode == 2 and "--role" in done.stderr
