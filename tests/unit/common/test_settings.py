"""Settings read the environment, accept the seeds' names, and are all documented."""

from __future__ import annotations

from pathlib import Path

from capstan.settings import ApiSettings, settings_markdown_table
from models.maintenance.settings import PatchSettings
from models.protocols.settings import WebhookSettings

DOCS = Path(__file__).resolve().parents[3] / "docs" / "settings.md"


def test_seed_environment_names_are_accepted(monkeypatch):
    monkeypatch.setenv("DEKSDENFLOW_API_TOKEN", "api-secret")
    monkeypatch.setenv("DEKSDENFLOW_WEBHOOK_TOKEN", "hook-secret")
    monkeypatch.setenv("DEKSDENFLOW_AUTO_QA_ON_CI", "true")
    monkeypatch.setenv("PATCH_ADMIN_TOKEN", "patch-secret")
    assert ApiSettings().api_token.get_secret_value() == "api-secret"
    webhooks = WebhookSettings()
    assert webhooks.token.get_secret_value() == "hook-secret" and webhooks.auto_qa_on_ci is True
    assert PatchSettings().admin_token.get_secret_value() == "patch-secret"


def test_secrets_do_not_print(monkeypatch):
    monkeypatch.setenv("CAPSTAN_API_TOKEN", "abc")
    settings = ApiSettings()
    assert settings.api_token.get_secret_value() == "abc"
    assert "abc" not in repr(settings) and "abc" not in str(settings.model_dump())


def test_docs_table_lists_every_setting():
    assert settings_markdown_table() in DOCS.read_text(), "run: python -c 'from capstan.settings import *; " \
        "print(settings_markdown_table())' and paste it into docs/settings.md"
