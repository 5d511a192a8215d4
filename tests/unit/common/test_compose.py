"""docker-compose.yml parses and runs every production process from the one image."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def test_compose_runs_the_production_topology():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "temporal", "temporal-ui", "migrate", "api", "worker"} <= set(services)
    assert services["api"]["command"] == ["api"] and services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("api", "worker", "migrate"):
        env = services[name]["environment"]
        assert env["CAPSTAN_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["CAPSTAN_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "ports" not in services["worker"], "workers must scale without port clashes"
