"""The routes of the coding-tasks surface, one module per group; ``api.tasks.router`` includes them."""
