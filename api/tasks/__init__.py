"""The coding-tasks surface: GitHub issue comments that start agent runs, sign-in, config and GitHub data."""
