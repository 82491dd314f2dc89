"""The web UI: server-rendered pages over the same ``Mesh`` facade as the API."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the UI's pages and static files on ``app``."""
