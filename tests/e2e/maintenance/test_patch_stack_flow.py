"""The whole path on real repositories: a git feed source sees a new upstream tag, the event is
dispatched to the built-in backend, patch-stack-rebase replays the fork's patches on the tag and
pushes a candidate ref, and the attempt ends ``changed`` without anyone calling sync."""

from __future__ import annotations

from capstan.temporal import workflow_ui_url
from tests.e2e.maintenance.support import (
    PATCH_SUBJECTS,
    finished_dispatch,
    git_release_source,
    release,
    remote_refs,
    seg,
    upstream_and_fork,
    write_sources,
)
from tests.support import git

EVENT_ID = "patch:upstream-tags:v1.1.0:upstream.release"


async def test_new_upstream_tag_ends_changed_with_the_patches_on_a_candidate_ref(
        api, worker, settings, temporal_client, sources_path, tmp_path):
    repos = upstream_and_fork(tmp_path)
    write_sources(sources_path, git_release_source("upstream-tags", repos))

    primed = await api.post("/feed-sources/upstream-tags/poll")
    assert primed.status_code == 202, primed.text
    assert primed.json() == {"sourceId": "upstream-tags", "primed": True, "entries": 1, "events": []}

    tag_sha = release(repos, "v1.1.0", {"app.txt": "app v1.1\n"})
    found = await api.post("/feed-sources/upstream-tags/poll")
    assert found.status_code == 202, found.text
    assert found.json()["events"] == [EVENT_ID]
    await finished_dispatch(temporal_client, settings, EVENT_ID)

    event = (await api.get(f"/flow-events/{seg(EVENT_ID)}")).json()
    assert event["event"]["payload"]["tag"] == "v1.1.0" and event["event"]["source"] == "patch"
    [dispatch] = event["dispatches"]
    assert dispatch["status"] == "dispatched" and dispatch["target"] == "local" and dispatch["matched"] == 1

    [attempt] = (await api.get("/maintenance-attempts", params={"eventId": EVENT_ID})).json()["attempts"]
    assert attempt["status"] == "changed", attempt
    assert attempt["completedAt"] and attempt["upstreamTag"] == "v1.1.0"
    [candidate] = attempt["candidateRefs"]
    assert candidate["ref"] == "refs/heads/candidates/v1.1.0" and candidate["pushed"] is True

    refs = remote_refs(repos.fork)
    assert refs == {"refs/heads/candidates/v1.1.0": candidate["sha"]}
    subjects = git("log", "--format=%s", f"{tag_sha}..refs/heads/candidates/v1.1.0", cwd=repos.fork).splitlines()
    assert subjects == list(reversed(PATCH_SUBJECTS))
    assert git("merge-base", "--is-ancestor", tag_sha, "refs/heads/candidates/v1.1.0", cwd=repos.fork) == ""

    # Polling again finds nothing new: no second event, dispatch or attempt.
    again = (await api.post("/feed-sources/upstream-tags/poll")).json()
    assert again["events"] == [] and again.get("error") is None
    assert len((await api.get("/workspace-dispatches")).json()["dispatches"]) == 1
    assert len((await api.get("/maintenance-attempts")).json()["attempts"]) == 1

    [run] = (await api.get("/workspace-runs", params={"eventId": EVENT_ID})).json()["runs"]
    assert run["flowName"] == "patch-stack-rebase" and run["status"] == "changed"
    assert run["processStatus"] == "completed"
    # The link names the execution that did the work (workflow id and run id), not just the workflow id.
    execution = await temporal_client.get_workflow_handle(run["raw"]["workflowId"]).describe()
    assert run["webUrl"] == workflow_ui_url(settings.temporal.ui_url, settings.temporal.namespace,
                                            run["raw"]["workflowId"], execution.run_id)
    assert (await api.get(f"/workspace-runs/{seg(run['id'])}")).json()["run"]["id"] == run["id"]
    sources = (await api.get("/feed-sources")).json()["sources"]
    assert sources[0]["id"] == "upstream-tags" and sources[0]["lastError"] is None
    assert "v1.1.0" in sources[0]["cursor"]["tags"]


async def test_upstream_change_conflicting_with_a_patch_needs_intervention_and_pushes_nothing(
        api, worker, settings, temporal_client, sources_path, tmp_path):
    repos = upstream_and_fork(tmp_path)
    write_sources(sources_path, git_release_source("upstream-tags", repos))
    assert (await api.post("/feed-sources/upstream-tags/poll")).json()["primed"] is True
    release(repos, "v1.1.0", {"config.txt": "setting = upstream\n"})
    assert (await api.post("/feed-sources/upstream-tags/poll")).json()["events"] == [EVENT_ID]
    await finished_dispatch(temporal_client, settings, EVENT_ID)

    [attempt] = (await api.get("/maintenance-attempts", params={"status": "needs_intervention"})).json()["attempts"]
    assert "config.txt" in attempt["message"] and "patch: tune config" in attempt["message"]
    assert attempt["candidateRefs"] == [] and attempt["completedAt"]
    assert remote_refs(repos.fork) == {}
    assert (await api.get("/maintenance-attempts", params={"status": "started"})).json()["attempts"] == []
