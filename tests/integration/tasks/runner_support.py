"""What the runner tests share: a completion-callback receiver over real HTTP and a task launch."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from integrations.runners.spec import RunnerLaunch
from tests.fakes.served import ServedInThread

EXECUTION_ID = "task_0b6f7c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b"
BRANCH = f"capstan/{EXECUTION_ID}"


@dataclass
class ReceivedCallback:
    headers: dict[str, str]
    json: Any


class CallbackReceiver(ServedInThread):
    """``POST /api/callbacks/complete`` that records every post and answers ``answers`` in turn (then 200)."""

    label = "callback receiver"

    def __init__(self, answers: list[int] | None = None) -> None:
        super().__init__()
        self.answers = list(answers or [])
        self.posts: list[ReceivedCallback] = []
        self._lock = threading.Lock()

    @property
    def callback_url(self) -> str:
        return f"{self.url}/api/callbacks/complete"

    def asgi(self) -> Starlette:
        async def complete(request: Request) -> JSONResponse:
            body = await request.json()
            with self._lock:
                self.posts.append(ReceivedCallback({k.lower(): v for k, v in request.headers.items()}, body))
                status = self.answers.pop(0) if self.answers else 200
            return JSONResponse({"ok": 200 <= status < 300}, status_code=status)

        return Starlette(routes=[Route("/api/callbacks/complete", complete, methods=["POST"])])


def launch_for(clone_url: str, callback_url: str, *, command: str | None = None, base: str = "main",
               instructions: str = "fix the typo") -> RunnerLaunch:
    prompt = (f"## Task\nFix the typo\n\n## Description\nIt says teh.\n\n## Execution Contract\n- Agent: mock\n\n"
              f"## Additional Instructions\n{instructions}\n\n## Output Expectations\n- Keep changes minimal.")
    return RunnerLaunch(execution_id=EXECUTION_ID, task_id="acme/widgets#7", repo_full_name="acme/widgets",
                        clone_url=clone_url, issue_number=7, agent="mock" if command is None else "custom",
                        agent_command=command, prompt=prompt, branch=BRANCH, base_branch=base,
                        callback_url=callback_url)
