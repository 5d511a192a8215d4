"""Placeholder router; filled in by its surface."""

from fastapi import APIRouter

router = APIRouter()
