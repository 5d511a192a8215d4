"""The signed-in user's GitHub data (summary, repositories, installations, orgs, profile, one issue) read
from the fake GitHub, and how each GitHub failure reaches the user: a revoked token ends the session, a
spent rate limit says when it resets, a missing scope says which, GitHub down is a 502."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.e2e.tasks.support import sign_in
from tests.fakes.github import FakeGitHub
from tests.fakes.github_records import FakeUser

SESSION_ROUTES = ["/api/github/summary", "/api/github/repositories", "/api/github/installations",
                  "/api/github/orgs", "/api/github/profile", "/api/github/issues/acme/widgets/11",
                  "/api/auth/diagnostics", "/api/config", "/api/tasks", "/api/tasks/history"]
RECONNECT = {"action": "reconnect", "actionUrl": "/api/auth/github?force=1"}


async def signed_in_world(client: httpx.AsyncClient, github: FakeGitHub, *, login: str = "alice",
                          scopes: tuple[str, ...] | None = None) -> FakeUser:
    """alice (member of acme) installed the App on acme/widgets; issue 11 is open there; she signed in."""
    emails = [{"email": "old@example.com", "primary": False, "verified": False},
              {"email": "work@example.com", "primary": False, "verified": True},
              {"email": f"{login}@example.com", "primary": True, "verified": True}]
    extra = {"scopes": scopes} if scopes is not None else {}
    user = github.add_user(login, name="Alice Liddell", email="public@example.com", orgs=["acme"],
                           emails=emails, **extra)
    github.add_repo("acme", "widgets", id=501, description="Widgets", private=True)
    github.add_installation(7, "acme", repos=["acme/widgets"], users=[login])
    github.add_issue("acme", "widgets", 11, "Fix the typo", "The README says teh.", labels=["bug"], user=login)
    await sign_in(client, github, login)
    return user


def avatar(github: FakeGitHub, login: str) -> str:
    return f"{github.url}/avatars/{login}"


# --- what each route answers ---


async def test_the_summary_shows_the_user_organizations_repositories_and_installations(live_api, fake_github):
    alice = await signed_in_world(live_api, fake_github)

    answer = await live_api.get("/api/github/summary")

    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["user"] == {"id": alice.id, "login": "alice", "name": "Alice Liddell",
                               "avatarUrl": avatar(fake_github, "alice"), "email": "alice@example.com"}
    assert summary["organizations"] == [{"id": summary["organizations"][0]["id"], "login": "acme",
                                         "avatarUrl": avatar(fake_github, "acme")}]
    assert summary["repositories"] == [{"id": 501, "fullName": "acme/widgets", "name": "widgets", "owner": "acme",
                                        "private": True, "description": "Widgets"}]
    [installation] = summary["installations"]
    assert installation["id"] == 7 and installation["account"]["login"] == "acme"
    assert summary["warnings"] == []


async def test_the_summary_still_answers_when_optional_parts_fail(live_api, fake_github):
    await signed_in_world(live_api, fake_github)
    fake_github.fail_next("/user/orgs", 500)
    fake_github.fail_next("/user/emails", 500)

    answer = await live_api.get("/api/github/summary")

    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["organizations"] == [] and summary["user"]["email"] == "public@example.com"
    assert [repo["fullName"] for repo in summary["repositories"]] == ["acme/widgets"]
    assert len(summary["warnings"]) == 2
    assert any("organizations" in warning for warning in summary["warnings"])
    assert any("email" in warning for warning in summary["warnings"])


async def test_repositories_of_every_installation_once_each(live_api, fake_github):
    fake_github.add_repo("bob", "tools", id=601)
    fake_github.add_installation(8, "bob", repos=["bob/tools", "acme/widgets"], users=["alice"])
    await signed_in_world(live_api, fake_github)

    answer = await live_api.get("/api/github/repositories")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"hasInstallation": True, "warnings": [], "repositories": [
        {"id": 601, "fullName": "bob/tools", "name": "tools", "owner": "bob", "private": False,
         "description": None},
        {"id": 501, "fullName": "acme/widgets", "name": "widgets", "owner": "acme", "private": True,
         "description": "Widgets"}]}


async def test_repositories_added_to_the_installation_show_once_github_sends_the_user_back(live_api, fake_github):
    await signed_in_world(live_api, fake_github)
    assert [repo["fullName"] for repo in (await live_api.get("/api/github/repositories")).json()["repositories"]] \
        == ["acme/widgets"]
    fake_github.add_repo("acme", "gadgets", id=502)
    fake_github.add_installation(7, "acme", repos=["acme/widgets", "acme/gadgets"], users=["alice"])

    back = await live_api.get("/api/auth/github/installed")

    assert back.headers["location"] == "/settings?installed=1"
    listed = (await live_api.get("/api/github/repositories")).json()["repositories"]
    assert [repo["fullName"] for repo in listed] == ["acme/widgets", "acme/gadgets"]


async def test_an_installation_whose_repositories_fail_adds_a_warning(live_api, fake_github):
    fake_github.add_repo("bob", "tools", id=601)
    fake_github.add_installation(8, "bob", repos=["bob/tools"], users=["alice"])
    fake_github.fail_next("/user/installations/8/repositories", 500, times=10)
    await signed_in_world(live_api, fake_github)

    answer = await live_api.get("/api/github/repositories")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [repo["fullName"] for repo in body["repositories"]] == ["acme/widgets"]
    [warning] = body["warnings"]
    assert "installation 8" in warning


async def test_a_user_without_the_app_has_no_repositories(live_api, fake_github):
    fake_github.add_user("alice")
    await sign_in(live_api, fake_github, "alice")

    answer = await live_api.get("/api/github/repositories")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"repositories": [], "hasInstallation": False, "warnings": []}
    installations = (await live_api.get("/api/github/installations")).json()
    assert (installations["status"], installations["total"], installations["installations"]) == (
        "not_installed", 0, [])


async def test_the_installations_the_user_can_see(live_api, fake_github):
    await signed_in_world(live_api, fake_github)

    answer = await live_api.get("/api/github/installations")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    [installation] = body["installations"]
    assert body["status"] == "installed" and body["reason"] is None and body["total"] == 1
    assert body["requestId"] == answer.headers["x-request-id"]
    assert installation == {"id": 7, "appId": int(fake_github.app_id), "appSlug": "capstan-fake",
                            "targetType": "Organization", "createdAt": installation["createdAt"],
                            "account": {"id": installation["account"]["id"], "login": "acme",
                                        "avatarUrl": avatar(fake_github, "acme")}}
    assert datetime.fromisoformat(installation["createdAt"].replace("Z", "+00:00")) <= datetime.now(UTC)


async def test_the_installations_check_says_when_github_cannot_answer(live_api, fake_github):
    await signed_in_world(live_api, fake_github)
    fake_github.fail_next("/user/installations", 502, times=2)

    body = (await live_api.get("/api/github/installations")).json()

    assert body["status"] == "indeterminate" and body["total"] == 0 and body["installations"] == []
    assert "Bad Gateway" in body["reason"]


async def test_orgs_and_profile(live_api, fake_github):
    alice = await signed_in_world(live_api, fake_github)

    orgs = await live_api.get("/api/github/orgs")
    profile = await live_api.get("/api/github/profile")

    assert orgs.status_code == 200 and profile.status_code == 200
    [org] = orgs.json()["organizations"]
    assert org["login"] == "acme" and org["avatarUrl"] == avatar(fake_github, "acme") and isinstance(org["id"], int)
    assert profile.json() == {"user": {"id": alice.id, "login": "alice", "name": "Alice Liddell",
                                       "avatarUrl": avatar(fake_github, "alice")},
                              "email": "alice@example.com"}
    [asked] = fake_github.requests_to("/user/orgs")
    assert asked.query == {"per_page": "100"}
    assert {name: asked.headers.get(name) for name in ("accept", "authorization", "user-agent",
                                                       "x-github-api-version")} == {
        "accept": "application/vnd.github+json", "authorization": f"Bearer {alice.token}", "user-agent": "capstan",
        "x-github-api-version": "2022-11-28"}


async def test_the_email_is_the_verified_one_when_none_is_primary_and_verified(live_api, fake_github):
    fake_github.add_user("alice", emails=[{"email": "a@example.com", "primary": True, "verified": False},
                                          {"email": "b@example.com", "primary": False, "verified": True}])
    await sign_in(live_api, fake_github, "alice")

    assert (await live_api.get("/api/github/profile")).json()["email"] == "b@example.com"


async def test_one_issue(live_api, fake_github):
    await signed_in_world(live_api, fake_github)
    fake_github.add_issue("acme", "widgets", 12, "No body", body=None)

    answer = await live_api.get("/api/github/issues/acme/widgets/11")
    bodiless = await live_api.get("/api/github/issues/acme/widgets/12")

    assert answer.status_code == 200, answer.text
    issue = answer.json()
    assert {key: issue[key] for key in ("number", "title", "body", "state", "html_url")} == {
        "number": 11, "title": "Fix the typo", "body": "The README says teh.", "state": "open",
        "html_url": f"{fake_github.url}/acme/widgets/issues/11"}
    assert [label["name"] for label in issue["labels"]] == ["bug"]
    assert bodiless.json()["body"] == ""


@pytest.mark.parametrize("number", ["abc", "11a", "-1", "0", "1.5", "99999999999"])
async def test_an_issue_number_that_is_not_a_positive_integer_is_a_bad_request(live_api, fake_github, number):
    await signed_in_world(live_api, fake_github)
    before = len(fake_github.requests_to("/issues/"))

    answer = await live_api.get(f"/api/github/issues/acme/widgets/{number}")

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid request"
    assert len(fake_github.requests_to("/issues/")) == before


async def test_an_issue_or_repository_github_does_not_know_is_not_found(live_api, fake_github):
    await signed_in_world(live_api, fake_github)

    for path in ("/api/github/issues/acme/widgets/99", "/api/github/issues/acme/nothing/11"):
        answer = await live_api.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"] == "not_found"


async def test_a_deleted_issue_is_not_found(live_api, fake_github):
    await signed_in_world(live_api, fake_github)
    fake_github.fail_next("/issues/11", 410, {"message": "This issue was deleted"})

    answer = await live_api.get("/api/github/issues/acme/widgets/11")

    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "not_found" and answer.json()["message"] == "This issue was deleted"


# --- GitHub's failures ---


async def test_a_revoked_token_ends_the_session_and_asks_to_sign_in_again(live_api, fake_github):
    alice = await signed_in_world(live_api, fake_github)
    fake_github.revoke_token(alice.token)

    answer = await live_api.get("/api/github/profile")

    assert answer.status_code == 401, answer.text
    body = answer.json()
    assert (body["error"], body["action"]) == ("unauthorized", "reauth")
    assert body["message"] == "GitHub session expired. Please reconnect your account."
    assert "capstan_session" not in live_api.cookies
    assert alice.token not in answer.text


@pytest.mark.parametrize("path", ["/api/github/summary", "/api/github/installations", "/api/github/orgs",
                                  "/api/github/issues/acme/widgets/11", "/api/auth/diagnostics"])
async def test_every_github_route_ends_the_session_on_a_revoked_token(live_api, fake_github, path):
    alice = await signed_in_world(live_api, fake_github)
    copied = live_api.cookies["capstan_session"]
    fake_github.revoke_token(alice.token)

    answer = await live_api.get(path)

    assert answer.status_code == 401, answer.text
    assert answer.json()["action"] == "reauth"
    asked = len(fake_github.requests)
    async with httpx.AsyncClient(base_url=str(live_api.base_url),
                                 headers={"Cookie": f"capstan_session={copied}"}) as replay:
        ended = await replay.get("/api/github/profile")
    assert ended.status_code == 401 and "action" not in ended.json()
    assert len(fake_github.requests) == asked


@pytest.mark.parametrize("path", ["/api/github/profile", "/api/github/orgs", "/api/github/summary",
                                  "/api/github/issues/acme/widgets/11"])
async def test_a_spent_rate_limit_says_when_it_resets(live_api, fake_github, path):
    await signed_in_world(live_api, fake_github)
    reset = int(time.time()) + 600
    fake_github.set_rate_limit(0, reset)

    answer = await live_api.get(path)

    assert answer.status_code == 429, answer.text
    body = answer.json()
    reset_at = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["error"] == "rate_limit" and body["resetAt"] == reset_at
    assert body["minutesUntilReset"] in (9, 10)
    assert body["message"] == (f"GitHub API rate limit exceeded. Resets in {body['minutesUntilReset']} minutes "
                               f"at {reset_at}.")


@pytest.mark.parametrize("status", [429, 403])
async def test_a_secondary_rate_limit_says_when_to_try_again(live_api, fake_github, status):
    await signed_in_world(live_api, fake_github)
    fake_github.fail_next("/user", status, {"message": "You have exceeded a secondary rate limit. Please wait."},
                          headers={"Retry-After": "120"}, method="GET")

    answer = await live_api.get("/api/github/profile")

    assert answer.status_code == 429, answer.text
    body = answer.json()
    assert body["error"] == "rate_limit" and body["minutesUntilReset"] == 2
    reset_at = datetime.fromisoformat(body["resetAt"].replace("Z", "+00:00"))
    assert 100 < (reset_at - datetime.now(UTC)).total_seconds() <= 120


async def test_a_token_without_the_org_scope_is_asked_to_reconnect(live_api, fake_github):
    await signed_in_world(live_api, fake_github, scopes=("repo",))

    answer = await live_api.get("/api/github/orgs")

    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert {key: body[key] for key in ("error", "action", "actionUrl", "message", "scopeHints")} == {
        "error": "missing_scope", **RECONNECT, "message": "Missing the 'read:org' scope.",
        "scopeHints": {"grantedScopes": ["repo"], "acceptedScopes": ["admin:org", "read:org", "user", "write:org"]}}
    profile = await live_api.get("/api/github/profile")
    assert profile.status_code == 200 and profile.json()["email"] == "public@example.com"


@pytest.mark.parametrize(("message", "error"), [
    ("Resource not accessible by integration", "insufficient_app_permissions"),
    ("Must have admin rights to Repository.", "insufficient_permissions")])
async def test_other_refusals_say_what_github_said(live_api, fake_github, message, error):
    await signed_in_world(live_api, fake_github)
    fake_github.fail_next("/issues/11", 403, {"message": message})

    answer = await live_api.get("/api/github/issues/acme/widgets/11")

    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert {key: body[key] for key in ("error", "action", "actionUrl", "message")} == {
        "error": error, **RECONNECT, "message": message}


@pytest.mark.parametrize(("failing", "path"), [("/user", "/api/github/profile"), ("/user", "/api/github/summary"),
                                               ("/user/orgs", "/api/github/orgs"),
                                               ("/issues/11", "/api/github/issues/acme/widgets/11")])
async def test_github_failing_is_a_bad_gateway(live_api, fake_github, failing, path):
    await signed_in_world(live_api, fake_github)
    fake_github.fail_next(failing, 503)

    answer = await live_api.get(path)

    assert answer.status_code == 502, answer.text
    assert answer.json()["error"] == "github_unavailable"


async def test_github_unreachable_is_a_bad_gateway(live_api, fake_github):
    await signed_in_world(live_api, fake_github)
    await asyncio.to_thread(fake_github.stop)

    answer = await live_api.get("/api/github/profile")

    assert answer.status_code == 502, answer.text
    assert answer.json()["error"] == "github_unavailable"


@pytest.mark.parametrize("path", SESSION_ROUTES)
async def test_every_session_route_needs_the_session(live_api, fake_github, path):
    answer = await live_api.get(path)

    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthorized"
    assert fake_github.requests == []
