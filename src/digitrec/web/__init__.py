"""The web service (FastAPI) and its drawing page. Needs the [web] extra."""

from .app import Limits, create_app, serve

__all__ = ["Limits", "create_app", "serve"]
