"""The web service (FastAPI) and its drawing page. Needs the [web] extra.

`Limits`, `create_app` and `serve` load FastAPI on first use, so that the service's worker
processes (which import `digitrec.web.jobs` only) do not."""

__all__ = ["Limits", "create_app", "serve"]


def __getattr__(name: str):
    if name == "serve":
        from digitrec.web import server

        return server.serve
    if name in __all__:
        from digitrec.web import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
