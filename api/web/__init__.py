"""The staff web app (``/ui``): sign-in, my tasks, cases and their forms, documents, supervisors' pages.

Server-rendered with Jinja2, htmx vendored in ``static/`` (nothing is loaded from elsewhere);
zh-CN, Beijing time, from a 360 px phone up. See ``gate.py`` for who sees what.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.web import guardian, help, incidents, pages, screenings, signin, term_reports
from api.web.gate import SignInFirst, sign_in_url
from api.web.render import PageError, page

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Mount the staff app: its routes, its static files, and its pages for refusals."""
    app.include_router(signin.router)
    app.include_router(pages.router)
    app.include_router(screenings.router)
    app.include_router(incidents.router)
    app.include_router(term_reports.router)
    app.include_router(guardian.router)
    app.include_router(help.public)
    app.include_router(help.staff)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    async def home(request: Request):
        return RedirectResponse("/ui", status_code=303)

    app.add_route("/", home, include_in_schema=False)  # people type the host name; the app is at /ui

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, exc: SignInFirst):
        return RedirectResponse(sign_in_url(exc.next_url), status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError):
        return page(request, "error.html", status_code=exc.status, message=exc.message)
