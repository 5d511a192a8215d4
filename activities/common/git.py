"""The ``fetch_repository`` activity: fetch into this worker's cache, check the branch, detect its CI."""

from __future__ import annotations

from temporalio import activity

from integrations.git import RepositoryCache, branch_not_found, detect_ci_provider
from models.common.git_io import FETCH_REPOSITORY_ACTIVITY, FetchRepositoryInput, FetchRepositoryResult


class GitActivities:
    def __init__(self, cache: RepositoryCache) -> None:
        self.git = cache.git
        self.cache = cache

    @activity.defn(name=FETCH_REPOSITORY_ACTIVITY)
    async def fetch_repository(self, request: FetchRepositoryInput) -> FetchRepositoryResult:
        """Fetch the repository into this worker's cache, check the branch, detect its CI."""
        async with self.cache.lock(request.git_url):
            mirror = await self.cache.sync(request.git_url)
            head = await self.cache.branch_head(mirror, request.branch)
            if head is None:
                raise branch_not_found(request.branch, request.git_url)
            listing = await self.git.run("ls-tree", "-r", "--name-only", head, "--", ".github/workflows",
                                         ".gitlab-ci.yml", cwd=mirror)
        return FetchRepositoryResult(head_sha=head,
                                     detected_ci_provider=detect_ci_provider(listing.stdout.splitlines()))
