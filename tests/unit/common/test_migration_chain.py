"""The migrations form one chain: one head, each revision numbered after the one it revises (revisions
written side by side are chained before they ship, so every database upgrades through the same steps)."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from capstan.migrate import alembic_config


def test_the_migrations_have_one_head_and_ascend():
    scripts = ScriptDirectory.from_config(alembic_config("postgresql://unused/unused"))
    assert len(scripts.get_heads()) == 1, f"more than one head: {scripts.get_heads()}"
    chain = [script.revision for script in scripts.walk_revisions()][::-1]
    assert chain == sorted(chain), f"revisions out of order: {chain}"
    for script in scripts.walk_revisions():
        assert script.path.rsplit("/", 1)[-1].startswith(f"{script.revision}_"), script.path
