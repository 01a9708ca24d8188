"""Screening imports and the student archive (一生一策).

``POST /screenings?batch=NAME`` takes the result file (multipart field ``file``) and answers 202 with
the job; the import runs in the API process (the file's bytes never touch the disk) and
``GET /screenings/{job_id}`` says where it stands. ``GET /students/{ref}`` is one student's record
in the school over the years: every screening result, every case with its outcome, the watch list.
Every read is in the access log, as every API call is.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile, status
from pydantic import BaseModel, Field

from api.access import PrincipalDep
from api.deps import EngineDep
from api.errors import Problem, unprocessable
from db import directory, store
from intake import jobs, reader
from models.screening import RulesFileError, load_rules

router = APIRouter(tags=["screening"])
log = structlog.get_logger(__name__)

BATCH = r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{1,100}$"


class JobStarted(BaseModel):
    job_id: str


class ImportRefused(Exception):
    """A screening file refused before any job starts: the HTTP status, the API's words and the page's."""

    def __init__(self, status_code: int, detail: str, words: str) -> None:
        super().__init__(detail)
        self.status_code, self.detail, self.words = status_code, detail, words


async def start_import(app, principal, filename: str | None, file: UploadFile, batch: str, dry_run: bool) -> str:
    """Check a screening file as it came (its kind, its size, an .xlsx's bounds) and start its job, run in
    this process (the file's bytes never touch the disk); the job's id. The API and the staff app's upload
    both start an import here."""
    settings = app.state.settings
    name = Path(filename or "upload.csv").name
    if Path(name).suffix.lower() not in (".csv", ".xlsx"):
        raise ImportRefused(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "file: a screening file is .csv or .xlsx",
                            "筛查结果文件须为 .csv（UTF-8）或 .xlsx 表格")
    data = await file.read(settings.max_screening_bytes + 1)
    if len(data) > settings.max_screening_bytes:
        raise ImportRefused(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"file: more than the {settings.max_screening_bytes} bytes allowed",
                            f"文件太大：最多 {settings.max_screening_bytes // (1024 * 1024)} MB，请拆分后分批导入")
    if Path(name).suffix.lower() == ".xlsx":  # checked before anything reads it: one far cell asks the reader for GBs
        try:
            await asyncio.to_thread(reader.check_xlsx, name, data)
        except reader.FileError as exc:
            raise ImportRefused(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc), str(exc)) from None
    try:
        rules = load_rules(settings.screening_rules_file)
    except RulesFileError as exc:
        raise ImportRefused(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc),
                            "筛查规则文件有误，暂时不能导入：请联系系统管理员") from None
    engine = app.state.engine
    job_id = jobs.start(engine, principal.school_id, batch, dry_run, principal.staff_id)
    task = asyncio.create_task(_run(app, principal.actor(), rules, app.state.policy, Path(name), batch, job_id,
                                    dry_run, data))
    app.state.screening_jobs.add(task)
    task.add_done_callback(app.state.screening_jobs.discard)
    return job_id


@router.post("/screenings", status_code=status.HTTP_202_ACCEPTED, response_model=JobStarted,
             responses={415: {"model": Problem, "description": "the file is not a .csv or .xlsx"},
                        422: {"description": "the file cannot be read safely (range, unpacked size, format)"}})
async def import_screening(
    request: Request,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description="the result file: .csv (UTF-8) or .xlsx")],
    batch: Annotated[str, Query(pattern=BATCH, description="the batch's name: importing it again opens nothing new")],
    dry_run: bool = False,
) -> JobStarted:
    """Import a screening result file for the caller's school: every result into the student archive, a
    case for each flagged student. ``dry_run=true``: only the preview (counts and unreadable rows)."""
    try:
        return JobStarted(job_id=await start_import(request.app, principal, file.filename, file, batch, dry_run))
    except ImportRefused as refused:
        if refused.status_code == status.HTTP_422_UNPROCESSABLE_ENTITY:
            raise unprocessable("body", "file", refused.detail) from None
        raise HTTPException(refused.status_code, refused.detail) from None


async def _run(app, actor, rules, policy, path: Path, batch: str, job_id: str, dry_run: bool, data: bytes) -> None:
    try:
        await jobs.run(app.state.engine, app.state.client, app.state.settings, policy, rules, path, actor.school_id,
                       batch, actor, job_id, dry_run, data=data, read_progress=jobs.progress(app.state.engine, job_id))
    except Exception:  # the job's row says it failed, and why; the import is run again as it is
        log.exception("screening import failed", job_id=job_id)


@router.get("/screenings/{job_id}", response_model=jobs.JobView)
async def screening_job(job_id: str, principal: PrincipalDep, engine: EngineDep) -> jobs.JobView:
    """Where an import stands: running, done or failed, with its counts and every unreadable row. A job
    whose process stopped (no sign of life for ``jobs.STALE``) is failed, saying so."""
    jobs.fail_interrupted(engine)
    row = jobs.get(engine, job_id)
    if row is None or row.school_id != principal.school_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"screening job {job_id} not found")
    return jobs.view(row)


class ResultView(BaseModel):
    batch: str
    instrument: str
    total: int | None
    band: str
    rules_version: str
    flags: dict
    items: dict
    case_id: str | None
    outcome: str
    recorded_at: datetime


class ArchiveCase(BaseModel):
    case_id: str
    state: str
    risk_level: str | None
    opened_at: datetime
    closed_at: datetime | None


class StudentArchive(BaseModel):
    school_id: str
    student_ref: str
    name: str | None
    screenings: list[ResultView]
    cases: list[ArchiveCase]
    #: the results that put the student on the watch list, newest first
    watch: list[ResultView]


def record_for(engine, principal, student_ref: str) -> tuple[list, list, str | None] | None:
    """A student's archive in the caller's school, if the caller may reach the student (a head teacher:
    their classes; a grade head: their grades): results, cases, the name."""
    results, cases, name, classes_seen = store.student_record(engine, principal.school_id, student_ref[:64])
    visible = directory.visible_classes(engine, principal.staff_id, principal.role)
    if (not results and not cases) or (visible is not None and not classes_seen & visible):
        return None
    return results, cases, name


@router.get("/students/{student_ref}", response_model=StudentArchive)
async def student_archive(student_ref: str, principal: PrincipalDep, engine: EngineDep) -> StudentArchive:
    """One student's record in the school over the years: screenings, cases and outcomes, the watch list."""
    found = record_for(engine, principal, student_ref)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"student {student_ref} has no record in this school")
    results, cases, name = found
    shown = [ResultView.model_validate(r, from_attributes=True) for r in results]
    return StudentArchive(
        school_id=principal.school_id, student_ref=student_ref, name=name, screenings=shown,
        cases=[ArchiveCase.model_validate(c, from_attributes=True) for c in cases],
        watch=[r for r in shown if r.outcome == "watch"])



class TransferBody(BaseModel):
    """Where the student's results go: a student of the receiving school, chosen or created there. A
    student number is the school's own: another school's child may have the same one."""

    to_school: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="the school the student moved to")
    to_student_ref: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$",
                                description="the student's number in the receiving school (学籍号 or its own)")
    match: Literal["existing", "new"] = Field(
        description="existing: the receiving school's record under that number is this child (it has one); "
                    "new: the receiving school has no record under that number, and the child's starts here")


class Transferred(BaseModel):
    student_ref: str
    to_school: str
    to_student_ref: str
    results: int


@router.post("/students/{student_ref}/transfer", response_model=Transferred)
async def transfer_student(student_ref: str, body: TransferBody, principal: PrincipalDep,
                           engine: EngineDep) -> Transferred:
    """A student moved school: leadership sends their screening results to the new school (the cases stay
    this school's record). Nothing moves without this call, and the call is in the access log."""
    if body.to_school == principal.school_id or directory.school(engine, body.to_school) is None:
        raise unprocessable("body", "to_school", "another school of the directory")
    found = record_for(engine, principal, student_ref)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"student {student_ref} has no record in this school")
    there_results, there_cases, there_name, _ = store.student_record(engine, body.to_school, body.to_student_ref)
    if body.match == "new" and (there_results or there_cases):
        raise unprocessable("body", "to_student_ref", "the receiving school has a record under this number: "
                                                      "match it as existing if it is this child, or give another")
    if body.match == "existing" and not (there_results or there_cases):
        raise unprocessable("body", "to_student_ref", "the receiving school has no record under this number")
    name = found[2]
    if body.match == "existing" and name and there_name and name != there_name:
        raise unprocessable("body", "to_student_ref", "the receiving school's record under this number is "
                                                      "another child's (the names differ)")
    count = store.transfer_screening(engine, principal.school_id, body.to_school, student_ref[:64],
                                     body.to_student_ref, datetime.now(UTC))
    log.info("screening results transferred", to_school=body.to_school, results=count, match=body.match)
    return Transferred(student_ref=student_ref, to_school=body.to_school, to_student_ref=body.to_student_ref,
                       results=count)
