"""The floor both processes stand on: every client of an outside system and the machinery that is not Temporal.

``api`` and ``activities`` both import from here; nothing here imports ``api``, ``activities``,
``workflows``, ``worker`` or Temporal's workflow and activity modules. What a long command needs
of an activity (its heartbeat) is passed in as a callback (``integrations.process.Heartbeat``).

- ``process``, ``sandbox``, ``git``: outside programs, the sandbox of repository code, real git and
  the per-worker repository cache.
- ``forges``: the protocols' pull/merge request clients (GitHub, GitLab).
- ``github``: the coding tasks' GitHub client (REST, App installation tokens, OAuth, rate limit).
- ``runners``: where a coding task's agent runs (local sandbox, docker, Fly Machines) and its callback.
- ``providers``: checks of a model provider's key.
- ``workspaces``: the maintenance workspace backends (HTTP, the built-in one and its patch-stack rebase).
- ``feeds``: the readers of update feeds (RSS/Atom, npm, PyPI, GitHub releases, git tags …).
- ``protocols``: step files and the step engines that run them.
- ``stores``: Postgres queries the API and the activities both run.
"""
