"""The baseline: a bare FastAPI route that reads the body and answers 204."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response


def create_bare_app() -> FastAPI:
    """A FastAPI app with one route, ``POST /api/vitals``, doing no work."""
    app = FastAPI()

    @app.post("/api/vitals", status_code=204)
    async def vitals(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    return app
