"""The HTTP workspace backend, spoken to over real HTTP: dispatch, sync, retry, replay and the
workspace routes, and a backend that fails or is gone (502, a failed record, never a 500)."""

from __future__ import annotations

from pydantic import SecretStr

from models.maintenance.settings import PatchSettings
from tests.e2e.maintenance.support import finished_dispatch, git_release_source, seg, upstream_and_fork, write_sources
from tests.support import assert_error

EVENT_ID = "patch:upstream-tags:v1.0.0:upstream.release"
SECRET = "backend-hmac-secret"


def use_backend(settings, backend) -> None:
    settings.patch = PatchSettings(feed_sources_path=settings.patch.feed_sources_path,
                                   workspace_backend_url=f"{backend.url}/events",
                                   workspace_backend_secret=SecretStr(SECRET))


async def test_dispatch_sync_retry_replay_against_an_http_backend(
        settings, sources_path, fake_workspace_backend, temporal_client, tmp_path, api_factory):
    from worker.main import WorkerResources, serve_surfaces

    fake_workspace_backend.set_secret(SECRET)
    use_backend(settings, fake_workspace_backend)
    repos = upstream_and_fork(tmp_path)
    write_sources(sources_path, {**git_release_source("upstream-tags", repos), "primeOnly": False})
    resources = WorkerResources(settings, temporal=temporal_client)
    async with serve_surfaces(temporal_client, settings, resources), api_factory(settings) as api:
        polled = (await api.post("/feed-sources/upstream-tags/poll")).json()
        assert polled["events"] == [EVENT_ID] and polled["primed"] is False
        await finished_dispatch(temporal_client, settings, EVENT_ID)

        [record] = (await api.get("/flow-dispatches", params={"eventId": EVENT_ID})).json()["dispatches"]
        assert record["status"] == "dispatched" and record["transport"] == "workspace-http"
        assert record["workspaceBackendUrl"] == fake_workspace_backend.url
        assert record["url"] == f"{fake_workspace_backend.url}/events"
        [run_id] = record["runIds"]
        assert fake_workspace_backend.events[EVENT_ID]["payload"]["tag"] == "v1.0.0"
        assert SECRET not in str(record)

        [attempt] = (await api.get("/maintenance-attempts")).json()["attempts"]
        assert attempt["status"] == "started" and attempt["workspaceRunIds"] == [run_id]
        fake_workspace_backend.set_run_result(run_id, "completed", {
            "status": "changed", "message": "rebased 3 patches",
            "artifacts": {"candidateRefs": [{"kind": "branch", "ref": "refs/heads/candidates/v1.0.0",
                                              "repo": "acme/widget", "pushed": True}]}})
        synced = await api.post(f"/maintenance-attempts/{seg(attempt['id'])}/sync")
        assert synced.status_code == 202, synced.text
        body = synced.json()["attempt"]
        assert body["status"] == "changed" and body["message"] == "rebased 3 patches"
        assert body["candidateRefs"][0]["ref"] == "refs/heads/candidates/v1.0.0"
        assert body["workspaceRunStatuses"] == {run_id: "changed"}
        # Synced again with nothing new: same answer, no record appended; the list shows the latest.
        assert (await api.post(f"/maintenance-attempts/{seg(attempt['id'])}/sync")).json()["attempt"]["status"] \
            == "changed"
        assert (await api.get("/maintenance-attempts", params={"status": "started"})).json()["attempts"] == []
        assert [a["status"] for a in (await api.get("/maintenance-attempts")).json()["attempts"]] == ["changed"]

        retried = await api.post(f"/flow-events/{seg(EVENT_ID)}/retry")
        assert retried.status_code == 202, retried.text
        assert retried.json()["record"]["runIds"] == [run_id] and retried.json()["record"]["matched"] == 0
        replayed = await api.post(f"/flow-events/{seg(EVENT_ID)}/replay")
        assert replayed.status_code == 202
        replay = replayed.json()["record"]
        assert replay["operation"] == "replay" and replay["runIds"] != [run_id]
        assert replay["url"] == f"{fake_workspace_backend.url}/events/{seg(EVENT_ID)}/replay"

        runs = (await api.get("/workspace-runs", params={"eventId": EVENT_ID})).json()
        assert {r["id"] for r in runs["runs"]} == {run_id, *replay["runIds"]} and "raw" in runs
        assert (await api.get(f"/workspace-runs/{run_id}")).json()["run"]["status"] == "changed"
        assert_error(await api.get("/workspace-runs/run-404"), 404, "workspace_run_not_found")
        event = (await api.get(f"/workspace-events/{seg(EVENT_ID)}")).json()["event"]
        assert event["id"] == EVENT_ID and run_id in event["runIds"]

        fake_workspace_backend.fail_next(500)
        failed = await api.post(f"/flow-events/{seg(EVENT_ID)}/retry")
        assert failed.status_code == 502
        assert failed.json()["record"]["status"] == "failed" and failed.json()["record"]["httpStatus"] == 500
        assert failed.json()["record"]["error"] == "Flow backend POST /events failed with 500"
        [failed_attempt] = (await api.get("/maintenance-attempts", params={"status": "failed"})).json()["attempts"]
        assert failed_attempt["completedAt"] == failed_attempt["createdAt"]
        statuses = [d["status"] for d in (await api.get("/workspace-dispatches")).json()["dispatches"]]
        assert statuses == ["failed", "dispatched", "dispatched", "dispatched"]

        fake_workspace_backend.stop()
        assert_error(await api.get("/workspace-runs"), 502, "workspace_backend_unavailable")
        assert_error(await api.get("/workspace-events"), 502, "workspace_backend_unavailable")
        assert_error(await api.post(f"/maintenance-attempts/{seg(attempt['id'])}/sync"), 502,
                     "workspace_backend_unavailable")
        gone = await api.post(f"/flow-events/{seg(EVENT_ID)}/retry")
        assert gone.status_code == 502 and "httpStatus" not in gone.json()["record"]
    await resources.close()
