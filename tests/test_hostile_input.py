"""Hostile input, round 3 (issue 26): what a probe sent to live stacks that crashed, leaked or doubled,
each sent again here and answered as a school would need: a clear refusal naming what is wrong, the
services still up, nothing taken twice."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import xlsxwriter
from sqlmodel import Session

from db import directory
from db.engine import make_engine, migrate
from db.tables import ScreeningJobRow
from intake import jobs
from tests.conftest import KEYRING, SCHOOL, SCHOOLS, service_env, token

CRISISFLOW = str(Path(sys.executable).parent / "crisisflow")
HEADER = ["ref", "name", "class_id", "grade", "class_name", "instrument", "total"]
ROW = ["20260001", "学生甲", "8-3", "八年级", "八(3)班", "phq9", 21]


def _far_cell(path: Path) -> Path:
    """2 KB on disk; the reader would allocate every cell from A1 to XFD1048576 (about 17 billion)."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEADER)
    sheet.write_row(1, 0, ROW)
    sheet.write(1048575, 16383, "x")
    book.close()
    return path


def _unpacks_to(path: Path, megabytes: int) -> Path:
    """A valid workbook whose shared strings unpack to ``megabytes`` MB (a zip bomb by volume)."""
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet().write_row(0, 0, HEADER)
    book.close()
    padded = path.with_suffix(".bomb.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(padded, "w", zipfile.ZIP_DEFLATED) as out:
        for part in source.infolist():
            out.writestr(part, source.read(part))
        with out.open("xl/padding.xml", "w") as stream:
            zeros = b"0" * 2**20
            for _ in range(megabytes):
                stream.write(zeros)
    return padded


async def _job(http, headers, job_id: str) -> dict:
    for _ in range(300):
        state = (await http.get(f"/screenings/{job_id}", headers=headers)).json()
        if state["status"] != "running":
            return state
        await asyncio.sleep(0.1)
    raise AssertionError("the import stayed running")


# -- point 1: a 2 KB spreadsheet must not take the API down --------------------------------------------

async def test_a_spreadsheet_that_asks_for_gigabytes_is_a_422_and_the_api_stays_up(sqlite_stack, tmp_path):
    stack = sqlite_stack
    directory.load(stack.engine, SCHOOLS)
    psy = {"Authorization": f"Bearer {token('psychology_teacher', staff_id='p-chen')}"}
    far = _far_cell(tmp_path / "far.xlsx")
    assert far.stat().st_size < 8000
    volume = _unpacks_to(tmp_path / "volume.xlsx", 300)
    assert volume.stat().st_size < 2_000_000
    for file, says in ((far, "超过 200000 行"), (volume, "解压后超过 256 MB")):
        for dry_run in (True, False):
            answer = await stack.http.post("/screenings", params={"batch": "bomb", "dry_run": dry_run},
                                           files={"file": (file.name, file.read_bytes())}, headers=psy)
            assert answer.status_code == 422, answer.text
            problem = answer.json()["detail"][0]
            assert problem["loc"] == ["body", "file"] and says in problem["msg"], problem
    # the API (and the worker beside it) still serve, and a sound file still imports
    assert (await stack.http.get("/health", headers=psy)).status_code == 200
    sound = tmp_path / "sound.xlsx"
    book = xlsxwriter.Workbook(str(sound))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEADER)
    sheet.write_row(1, 0, ROW)
    book.close()
    started = await stack.http.post("/screenings", params={"batch": "sound", "dry_run": True},
                                    files={"file": ("sound.xlsx", sound.read_bytes())}, headers=psy)
    assert started.status_code == 202
    done = await _job(stack.http, psy, started.json()["job_id"])
    assert done["status"] == "done" and done["rows"] == 1 and done["flagged"] == 1


def test_the_command_line_refuses_the_far_cell_in_a_line_of_chinese(tmp_path):
    db = f"sqlite:///{tmp_path / 'cf.db'}"
    engine = make_engine(db, keyring=KEYRING)
    migrate(engine)
    directory.load(engine, SCHOOLS)
    engine.dispose()
    done = subprocess.run([CRISISFLOW, "screening", "preview", str(_far_cell(tmp_path / "far.xlsx")),
                           "--school", SCHOOL], capture_output=True, text=True, env=service_env(database_url=db),
                          timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    assert "far.xlsx：超过 200000 行（第 1048576 行有内容）；请拆分文件" in done.stderr
    assert "Traceback" not in done.stderr


# -- point 7: a screening job never stays running ---------------------------------------------------

async def test_a_job_with_a_huge_cell_or_number_or_a_dead_process_ends_saying_why(sqlite_stack, tmp_path):
    stack = sqlite_stack
    directory.load(stack.engine, SCHOOLS)
    psy = {"Authorization": f"Bearer {token('psychology_teacher', staff_id='p-chen')}"}
    header = ",".join(HEADER)
    # numbers of 5,000 and 500 digits, a name of 2,000 characters: those rows, by line; the rest is read
    rows = [header, ",".join(map(str, ROW)), ",".join(map(str, ROW[:6] + ["9" * 5000])),
            ",".join(map(str, [ROW[0], "名" * 2000] + ROW[2:])), ",".join(map(str, ROW[:6] + ["9" * 500]))]
    started = await stack.http.post("/screenings", params={"batch": "digits", "dry_run": True},
                                    files={"file": ("r.csv", "\n".join(rows).encode())}, headers=psy)
    done = await _job(stack.http, psy, started.json()["job_id"])
    assert done["status"] == "done" and done["rows"] == 4 and done["flagged"] == 1
    assert {e["line"]: e["reason"] for e in done["errors"]} == {
        3: "total：超过 1000 个字符", 4: "name：超过 1000 个字符", 5: "total: “99999999999999999999…”不是分数"}
    # a cell past 128 KiB: the file is refused, naming the line
    huge = [header, ",".join(map(str, ROW)), f'20260002,"{"x" * 140_000}",8-3,八年级,八(3)班,phq9,3']
    started = await stack.http.post("/screenings", params={"batch": "huge", "dry_run": True},
                                    files={"file": ("r.csv", "\n".join(huge).encode())}, headers=psy)
    done = await _job(stack.http, psy, started.json()["job_id"])
    assert done["status"] == "failed" and done["failure"] == "r.csv：第 3 行无法读取（单元格过长或引号不配对）"
    # an import whose process died: failed, saying so, when next read (and when the API starts)
    now = datetime.now(UTC)
    with Session(stack.engine) as session, session.begin():
        session.add(ScreeningJobRow(job_id="died-midway", school_id=SCHOOL, batch="b", status="running", errors=[],
                                    warnings=[], started_by="p-chen", started_at=now - timedelta(minutes=5),
                                    heartbeat_at=now - timedelta(minutes=2)))
        session.add(ScreeningJobRow(job_id="still-going", school_id=SCHOOL, batch="c", status="running", errors=[],
                                    warnings=[], started_by="p-chen", started_at=now - timedelta(minutes=5),
                                    heartbeat_at=now))
    died = (await stack.http.get("/screenings/died-midway", headers=psy)).json()
    assert died["status"] == "failed" and died["failure"] == jobs.INTERRUPTED
    assert "请重新导入同一批次" in jobs.INTERRUPTED
    assert (await stack.http.get("/screenings/still-going", headers=psy)).json()["status"] == "running"
