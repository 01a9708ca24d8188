"""The screening upload (筛查导入) in the staff app: a school's result file, previewed or imported, and the
job's page following it as it runs: rows read, students flagged, cases opened, every unreadable row.

The file goes the API's way (``api.routes.screenings.start_import``: the same checks, the same job); this
module only takes the form and words the job.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from api.routes.screenings import BATCH, ImportRefused, start_import
from api.web.gate import check_csrf, page_gate, viewer
from api.web.render import PageError, page
from intake import jobs

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(page_gate)])


def _upload(request: Request, errors: dict | None = None, values: dict | None = None, status_code: int = 200):
    principal = viewer(request)
    settings = request.app.state.settings
    return page(request, "screenings.html", status_code=status_code, errors=errors or {},
                values=values or {"dry_run": True}, recent=jobs.recent(request.app.state.engine, principal.school_id),
                max_bytes=settings.max_screening_bytes)


@router.get("/screenings", response_class=HTMLResponse)
async def upload_form(request: Request):
    viewer(request, "the screening upload")
    return _upload(request)


@router.post("/screenings", response_class=HTMLResponse)
async def upload(request: Request, file: Annotated[UploadFile, File()], csrf: Annotated[str, Form(max_length=64)] = "",
                 batch: Annotated[str, Form(max_length=200)] = "", dry_run: Annotated[str, Form(max_length=8)] = ""):
    principal = viewer(request, "import screening results")
    check_csrf(request, {"csrf": csrf})
    batch, preview = batch.strip(), dry_run in ("on", "true")
    values = {"batch": batch, "dry_run": preview}
    if not re.fullmatch(BATCH, batch):
        return _upload(request, {"batch": "请填写批次名称：最多 100 个汉字、字母、数字或 - _ .，如 2026秋季普查"},
                       values, 400)
    try:
        job_id = await start_import(request.app, principal, file.filename, file, batch, preview)
    except ImportRefused as refused:
        return _upload(request, {"file": refused.words}, values, refused.status_code)
    return RedirectResponse(f"/ui/screenings/{job_id}", status_code=303)


@router.get("/screenings/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, job_id: str):
    """The job as it stands; while it runs, its part of the page asks again every second (htmx)."""
    principal = viewer(request, "read a screening import")
    engine = request.app.state.engine
    jobs.fail_interrupted(engine)
    row = jobs.get(engine, job_id)
    if row is None or row.school_id != principal.school_id:
        raise PageError(404, "找不到这次导入。")
    view = jobs.view(row)
    fragment = request.headers.get("HX-Request") == "true"
    return page(request, "_job.html" if fragment else "screening_job.html", job=view, started_at=row.started_at,
                finished_at=row.finished_at)
