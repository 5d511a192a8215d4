"""Where a coding agent runs: a sandboxed process on the worker (``local``), a container (``docker``) or a
Fly Machine (``fly``). Every runner does the same contract: clone, branch, run the agent, commit, push,
report through the completion callback."""
