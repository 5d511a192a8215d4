"""The coding-tasks surface: tasks started by an ``@mention`` in a GitHub issue comment."""
