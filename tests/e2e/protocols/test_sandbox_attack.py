"""The probe's attack, replayed: a step of one project goes after the worker's secrets, the other
projects' secrets and worktrees, the data dir and Postgres, and publishes what it finds in a pushed
commit and its output. It must find nothing worth publishing."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import SESSION_SECRETS_KEY
from tests.e2e.protocols.support import create_run, step_file
from tests.integration.workers import start_worker, stop_worker, worker_env
from tests.support import git, make_bare_remote, settle

# A client of Postgres's wire protocol in the system Python (no driver inside the sandbox): try to log
# in without a password (the step has none to give) and read every project's secrets.
POSTGRES_CLIENT = r"""
import socket, struct, sys
host, port, database = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    sock = socket.create_connection((host, port), timeout=3)
except OSError as exc:
    sys.exit(f"postgres {host}:{port}: {exc}")
def messages():
    buffer = b""
    while True:
        while len(buffer) < 5 or len(buffer) < 1 + struct.unpack("!i", buffer[1:5])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
        size = 1 + struct.unpack("!i", buffer[1:5])[0]
        yield buffer[:1], buffer[5:size]
        buffer = buffer[size:]
params = b"user\0postgres\0database\0" + database.encode() + b"\0\0"
sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
replies = messages()
for kind, body in replies:
    if kind == b"E" or (kind == b"R" and body[:4] != b"\0\0\0\0"):
        sys.exit(f"postgres {host}:{port} refused: {body!r}")
    if kind == b"Z":
        break
query = b"SELECT name, secrets::text FROM projects\0"
sock.sendall(b"Q" + struct.pack("!i", 4 + len(query)) + query)
for kind, body in replies:
    print(kind.decode(), body.decode(errors="replace"))
    if kind == b"Z":
        break
"""

ATTACK = """set +e
cat > /tmp/pg.py <<'EOF'
{client}
EOF
{{
echo "== env"; env
echo "== /proc/*/environ"; for f in /proc/[0-9]*/environ; do echo "$f"; tr '\\0' '\\n' < "$f"; done
echo "== /proc/*/cmdline"; for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < "$f"; echo; done
echo "== around the worktree"; ls -la .. ../.. ../../..
echo "== data dir"; cat ../../../secrets.key; ls -laR ../../..
echo "== other worktrees"; for f in ../*/* ../*/.*; do echo "$f"; cat "$f"; done
echo "== git cache"; for m in ../../*.git; do echo "$m"; git --git-dir="$m" log --all --format=%H; cat "$m/config"; done
echo "== this mirror"; git log --all --format='%H %s'; cat "$(git rev-parse --git-common-dir)/config"
echo "== files that mention Capstan"
grep -rIl -e CAPSTAN -e fernet -e secrets / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev \\
  --exclude-dir=usr --exclude-dir=tmp 2>/dev/null | while read -r f; do echo "$f"; cat "$f"; done
echo "== postgres"
python3 /tmp/pg.py 127.0.0.1 5433 capstan
python3 /tmp/pg.py {db_host} {db_port} {db_name}
}} > /tmp/loot 2>&1
cp /tmp/loot loot.txt
cat /tmp/loot"""

# Project B's step marks its worktree and holds it open while A's attack runs.
HOLDING_STEP = """echo {marker} > b-worktree-marker.txt
echo started > {started}
cat {hold}"""


def read_fifo(path: Path) -> str:
    with open(path) as fifo:
        return fifo.read()


def write_fifo(path: Path, text: str) -> None:
    with open(path, "w") as fifo:
        fifo.write(text)


async def planned_project(api, temporal_client, tmp_path: Path, name: str, files: dict[str, str],
                          secrets: dict | None = None) -> tuple[Path, dict]:
    remote = make_bare_remote(tmp_path, files, name=f"{name}.git")
    project = await api.post("/projects", json={"name": name, "git_url": str(remote), "secrets": secrets})
    assert project.status_code == 200, project.text
    run = await create_run(api, project.json()["id"], name=name)
    await api.post(f"/protocols/{run['id']}/actions/start")
    assert await settle(temporal_client, run["id"]) == "planned"
    return remote, run


async def test_a_hostile_step_obtains_nothing(api, settings, temporal_client, tmp_path):
    tag = uuid.uuid4().hex[:10]
    worker_secrets = {"CAPSTAN_API_TOKEN": f"api-token-{tag}", "CAPSTAN_WEBHOOK_TOKEN": f"webhook-token-{tag}",
                      "CAPSTAN_GITHUB_TOKEN": f"ghp_worker{tag}", "CAPSTAN_GITLAB_TOKEN": f"glpat-worker{tag}",
                      "CAPSTAN_PATCH_ADMIN_TOKEN": f"patch-admin-{tag}", "CAPSTAN_SECRETS_KEY": SESSION_SECRETS_KEY}
    other_secret, other_file, other_worktree = f"ghp_projectB{tag}", f"B-REPO-{tag}", f"B-WORKTREE-{tag}"
    # The layout of `capstan dev`: the key file in the data dir, the git cache inside it.
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "secrets.key").write_text(SESSION_SECRETS_KEY)
    fifos = tmp_path / "fifos"
    fifos.mkdir()
    started, hold = fifos / "b-started.fifo", fifos / "b-hold.fifo"
    os.mkfifo(started)
    os.mkfifo(hold)

    db = urlsplit(settings.database.url.replace("+psycopg", ""))
    attack = ATTACK.format(client=POSTGRES_CLIENT, db_host=db.hostname, db_port=db.port, db_name=db.path.strip("/"))
    env = worker_env(settings, data_dir / "git-cache", CAPSTAN_SANDBOX_READ_ONLY_PATHS=str(fifos), **worker_secrets)
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        _, run_b = await planned_project(api, temporal_client, tmp_path, "b", {
            ".protocols/b/01-hold.md": step_file(HOLDING_STEP.format(marker=other_worktree, started=started,
                                                                      hold=hold)),
            "private.txt": other_file}, secrets={"github_token": other_secret})
        remote_a, run_a = await planned_project(api, temporal_client, tmp_path, "a",
                                                {".protocols/a/01-attack.md": step_file(attack)})
        await api.post(f"/protocols/{run_b['id']}/actions/run_next_step")
        assert (await asyncio.wait_for(asyncio.to_thread(read_fifo, started), 60)).strip() == "started"
        await api.post(f"/protocols/{run_a['id']}/actions/run_next_step")
        await settle(temporal_client, run_a["id"])
        await asyncio.wait_for(asyncio.to_thread(write_fifo, hold, "go\n"), 30)
        await settle(temporal_client, run_b["id"])
    finally:
        stop_worker(worker)

    step = (await api.get(f"/protocols/{run_a['id']}/steps")).json()[0]
    assert step["status"] == "needs_qa"  # the attack ran to its end and its loot was pushed
    pushed = git("log", "-p", "refs/heads/a", cwd=remote_a)
    artifacts = (await api.get(f"/steps/{step['id']}/artifacts")).json()
    events = (await api.get(f"/protocols/{run_a['id']}/events")).json() + (await api.get("/events")).json()
    loot = git("show", "refs/heads/a:loot.txt", cwd=remote_a)
    assert "== postgres" in loot and loot.replace("\x00", "") in artifacts[0]["content"]  # (Postgres drops NULs)
    published = "\n".join([pushed, *(a["content"] for a in artifacts), *(e["message"] or "" for e in events)])

    for name, value in {**worker_secrets, "database URL": settings.database.url}.items():
        assert value not in published, f"{name} leaked"
    assert db.netloc not in published  # no form of the database URL either
    for name, value in {"project B's secret": other_secret, "project B's repository": other_file,
                        "project B's worktree": other_worktree}.items():
        assert value not in published, f"{name} leaked"
    # What the step did see: only what it was given.
    env_names = {line.split("=", 1)[0] for line in loot.split("== /proc/*/environ")[0].splitlines()[1:]}
    assert env_names - {"PWD", "SHLVL", "OLDPWD", "_"} == {"PATH", "HOME", "LANG", "CAPSTAN_STEP_FILE",
                                                           "CAPSTAN_MODEL"}
    assert "capstan worker" not in loot  # no other process of the machine, the worker least of all
    # Postgres is reachable over loopback, but it asks for a password the step cannot know.
    postgres_section = loot.split("== postgres", 1)[1]
    assert postgres_section.count("refused") + postgres_section.count("Connection refused") >= 2, postgres_section
    assert "\nD " not in postgres_section  # no data row came back
