"""GitHub's refusal of a user's request, read back from the workflow that made the call.

A dashboard create, a retry or a status set by hand reads and writes GitHub in the run's workflow (an
activity, with the requesting user's token). When GitHub refuses, the Update fails with a
``github_refused`` ``ApplicationError`` carrying what classifies the error (``GitHubError.essentials``);
this makes the same ``GitHubError`` again, which the route's ``github_answers`` answers exactly as it
answers the GitHub calls the API makes itself (a 401 also ends the session). Nothing here calls GitHub.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from integrations.github.client import GitHubError


def github_error_of(refusal: ApplicationError) -> GitHubError:
    essentials = refusal.details[0] if refusal.details and isinstance(refusal.details[0], dict) else {}
    return GitHubError.from_essentials(essentials or {"status": None, "message": refusal.message})
