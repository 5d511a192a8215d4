"""The ``git`` provider: any git remote (a local path works), read with ``git ls-remote`` and no clone.

``release``: one entry per tag, newest version first; the peeled ``^{}`` line of an annotated tag only
gives the commit. ``push``: one entry for the current head of ``refs/heads/<defaultBranch or main>``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from integrations.feeds.errors import FeedReadError, without_credentials
from integrations.git import GitRunner
from models.maintenance.feed_config import FeedSourceConfig
from models.maintenance.feed_entries import FeedEntry, version_sort_key

_TAGS = "refs/tags/"
_PEELED = "^{}"


async def read_git_feed(source: FeedSourceConfig, *, git: GitRunner, now: str) -> list[FeedEntry]:
    if source.event == "release":
        return tag_entries(source, await _ls_remote(source, git, "--tags"), now)
    branch = source.repo.defaultBranch or "main"
    heads = await _ls_remote(source, git, "--heads", f"refs/heads/{branch}")
    return head_entries(source, branch, heads, now)


async def _ls_remote(source: FeedSourceConfig, git: GitRunner, *args: str) -> list[tuple[str, str]]:
    """``(sha, ref)`` pairs the remote advertises."""
    option, *patterns = args
    try:
        result = await git.run("ls-remote", option, "--", source.url, *patterns, check=False)
    except OSError as exc:
        raise FeedReadError(f"Feed {source.id}: git could not be run: {exc.strerror or exc}") from None
    if result.returncode != 0:
        reason = without_credentials(result.stderr.strip().splitlines()[0] if result.stderr.strip() else "")
        raise FeedReadError(f"Feed {source.id}: git ls-remote failed ({result.returncode}): {reason}".rstrip(": "))
    pairs = []
    for line in result.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if sha and ref:
            pairs.append((sha.strip(), ref.strip()))
    return pairs


def _entry_url(source: FeedSourceConfig) -> str:
    """The source url, without any credentials in it (entries end up in events and responses)."""
    parts = urlsplit(source.url)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return source.url


def tag_entries(source: FeedSourceConfig, refs: list[tuple[str, str]], now: str) -> list[FeedEntry]:
    commit_of: dict[str, str] = {}
    for sha, ref in refs:
        if not ref.startswith(_TAGS):
            continue
        tag = ref.removeprefix(_TAGS)
        if tag.endswith(_PEELED):
            commit_of[tag.removesuffix(_PEELED)] = sha
        else:
            commit_of.setdefault(tag, sha)
    url = _entry_url(source)
    tags = sorted(commit_of, key=version_sort_key, reverse=True)
    return [FeedEntry(id=tag, title=tag, url=url, published_at=now, ref=tag, sha=commit_of[tag], tag=tag)
            for tag in tags]


def head_entries(source: FeedSourceConfig, branch: str, refs: list[tuple[str, str]], now: str) -> list[FeedEntry]:
    ref = f"refs/heads/{branch}"
    sha = next((sha for sha, advertised in refs if advertised == ref), None)
    if sha is None:
        raise FeedReadError(f"Feed {source.id}: branch {branch!r} not found in the remote")
    return [FeedEntry(id=sha, title=f"{branch}@{sha[:12]}", url=_entry_url(source), published_at=now,
                      ref=ref, sha=sha)]
