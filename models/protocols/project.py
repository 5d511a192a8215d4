"""Projects: a git repository Capstan runs protocols against."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import field_validator
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field, json_field, updated_at_field
from models.common.gitrefs import check_branch_name


class ProjectBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    git_url: str = Field(min_length=1, max_length=2000)
    base_branch: str = Field(default="main", min_length=1, max_length=255)
    ci_provider: str | None = Field(default=None, max_length=50)
    default_models: dict[str, Any] | None = json_field()
    # Capstan additions, optional: where pull requests go when git_url is not a forge URL,
    # and the QA command of steps whose file has no ``## QA`` block.
    forge_repository: str | None = Field(default=None, max_length=300)
    qa_command: str | None = Field(default=None, max_length=5000)


class Project(ProjectBase, table=True):
    __tablename__ = "projects"

    id: int | None = Field(default=None, primary_key=True)
    secrets: dict[str, Any] | None = json_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ProjectCreate(ProjectBase):
    secrets: dict[str, Any] | None = None

    @field_validator("base_branch")
    @classmethod
    def _branch_is_a_ref_name(cls, value: str) -> str:
        return check_branch_name(value)


class ProjectPublic(ProjectBase):
    """What the API returns: the secrets' names, never their values."""

    id: int
    secret_keys: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, project: Project) -> ProjectPublic:
        return cls.model_validate(project, update={"secret_keys": sorted((project.secrets or {}).keys())})
