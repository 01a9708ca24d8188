"""A screening platform's result file, previewed and imported as a school runs it: counts, the cases
that open (once, even when the importer is killed), every unreadable row with its line, and the
student archive, from the command line and through the API."""

from __future__ import annotations

import asyncio
import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import xlsxwriter
from sqlmodel import Session, func, select

from db import directory
from db.engine import make_engine, migrate
from db.tables import AccessLogRow, CaseDeadlineRow, CaseRow, ScreeningJobRow, ScreeningResultRow
from tests import web
from tests.conftest import KEYRING, SCHOOL, SCHOOLS, auth, service_env, token

CRISISFLOW = str(Path(sys.executable).parent / "crisisflow")
HEADER = ["ref", "name", "class_id", "grade", "class_name", "instrument", "total"] + [f"q{i}" for i in range(1, 10)]
CLASSES = [("8-3", "八年级", "八(3)班"), ("8-4", "八年级", "八(4)班"), ("7-1", "七年级", "七(1)班")]


def _rows() -> tuple[list[list], set[int]]:
    """500 rows: 30 that open a case (PHQ-9 item 9, ASQ positive, PHQ-9 of 20 and more), 467 that raise
    nothing, and 3 that cannot be read (their lines returned)."""
    rows, broken = [], set()
    for n in range(500):
        class_id, grade, class_name = CLASSES[n % 3]
        student = [f"2026{n:04d}", f"学生{n}", class_id, grade, class_name]
        if n < 20:  # item 9 answered 1: thoughts of self-harm
            rows.append(student + ["phq9", ""] + [0, 1, 0, 1, 0, 0, 1, 0, 1])
        elif n < 25:  # ASQ positive, not acute
            rows.append(student + ["asq", ""] + [0, 1, 0, 0, 0, "", "", "", ""])
        elif n < 30:  # a total of 20 or more, as a platform exports totals only
            rows.append(student + ["phq9", 21] + [""] * 9)
        elif n in (100, 200, 300):
            broken.add(n + 2)  # the header is line 1
            rows.append(student + {100: ["bdi", 12] + [""] * 9, 200: ["phq9", ""] + [0, 0, 4, 0, 0, 0, 0, 0, 0],
                                   300: ["gad7", 30] + [""] * 9}[n])
        elif n % 2:
            rows.append(student + ["gad7", 3] + [""] * 9)
        else:
            rows.append(student + ["phq9", ""] + [1, 0, 0, 1, 0, 0, 0, 0, 0])
    return rows, broken


def _preview(file: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    db = f"sqlite:///{tmp_path / 'cf.db'}"
    engine = make_engine(db, keyring=KEYRING)
    migrate(engine)
    directory.load(engine, SCHOOLS)
    engine.dispose()
    return subprocess.run([CRISISFLOW, "screening", "preview", str(file), "--school", SCHOOL],
                          capture_output=True, text=True, env=service_env(database_url=db), timeout=120)


def _counts(stdout: str) -> dict[str, str]:
    return {line[:17].strip(): line[17:].split()[0] for line in stdout.splitlines() if line.strip()}


def test_an_xlsx_preview_counts_rows_flags_and_cases_and_lists_every_broken_row(tmp_path):
    rows, broken = _rows()
    file = _xlsx(tmp_path / "2026秋季普查.xlsx", rows)

    done = _preview(file, tmp_path)
    assert done.returncode == 0, done.stderr
    counts = _counts(done.stdout)
    assert counts["rows"] == "500" and counts["flagged"] == "30" and counts["cases to open"] == "30"
    assert counts["unreadable rows"] == "3" and counts["rules"] == "screening-2026-12"
    with (tmp_path / "2026秋季普查.xlsx.errors.csv").open(encoding="utf-8-sig") as errors:
        found = {int(row["line"]): row["reason"] for row in csv.DictReader(errors)}
    assert set(found) == broken
    assert "instrument" in found[102] and "q3" in found[202] and "total" in found[302]
    assert "学生" not in "".join(found.values())  # the errors file names lines and fields, never students


def test_a_class_the_directory_does_not_have_never_drops_a_flagged_student(tmp_path):
    """An unflagged row of an unknown class is unreadable; a flagged one still opens its case (without a
    class: its notices go to the psychology teachers and leadership) and is listed as a warning."""
    rows, _ = _rows()
    rows[5][2] = "9-9"  # flagged (PHQ-9 item 9)
    rows[40][2] = "9-9"  # raises nothing
    file = tmp_path / "results.csv"
    with file.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerows([HEADER, *rows])
    done = _preview(file, tmp_path)
    assert done.returncode == 0, done.stderr
    counts = _counts(done.stdout)
    assert counts["rows"] == "500" and counts["unreadable rows"] == "4" and counts["cases to open"] == "30"
    errors = (tmp_path / "results.csv.errors.csv").read_text(encoding="utf-8-sig")
    assert "42,class_id：“9-9”不是名录中本校的班级" in errors
    assert "\n7," not in errors
    assert "warning          line 7: class_id：“9-9”不是名录中本校的班级；个案已建立但未关联班级" in done.stdout
    assert "由心理教师和学校领导接收通知" in done.stdout  # the case opens without a class


def test_a_file_without_the_columns_is_refused_as_a_whole(tmp_path):
    file = tmp_path / "wrong.csv"
    file.write_text("学号,姓名,总分\n2026,某某,12\n", encoding="utf-8")
    done = _preview(file, tmp_path)
    assert done.returncode == 2 and "表头缺少 ref, name" in done.stderr


# ------------------------------------------------------------------ the import


def _xlsx(path: Path, rows: list[list]) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("结果")
    for r, values in enumerate([HEADER, *rows]):
        for c, value in enumerate(values):
            if value != "":
                sheet.write(r, c, value)
    book.close()
    return path


def _import_env(stack) -> dict:
    return service_env(database_url=stack.settings.database_url, task_queue=stack.settings.task_queue,
                       temporal_address=stack.client.service_client.config.target_host)


def _import(stack, file: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([CRISISFLOW, "screening", "import", str(file), "--school", SCHOOL, "--batch", "2026-autumn",
                           "--by", "p-chen", *extra], capture_output=True, text=True, env=_import_env(stack),
                          timeout=300)


async def _cases(stack, expected: int, seconds: float = 60) -> list[CaseRow]:
    deadline = time.monotonic() + seconds
    while True:
        with Session(stack.engine) as session:
            rows = session.exec(select(CaseRow)).all()
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.2)


async def test_an_import_opens_each_flagged_students_case_once_even_when_killed_halfway(sqlite_stack, tmp_path):
    stack = sqlite_stack
    directory.load(stack.engine, SCHOOLS)
    rows, _ = _rows()
    file = _xlsx(tmp_path / "2026秋季普查.xlsx", rows)

    # killed halfway: some cases are open, the job is not done
    env = _import_env(stack)
    proc = subprocess.Popen([CRISISFLOW, "screening", "import", str(file), "--school", SCHOOL, "--batch",
                             "2026-autumn", "--by", "p-chen", "--concurrency", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with Session(stack.engine) as session:
            opened = session.exec(select(func.count()).select_from(ScreeningResultRow)
                                  .where(ScreeningResultRow.outcome == "opened")).one()
        if opened >= 5:
            break
        await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Session(stack.engine) as session:  # what it recorded before the kill
        opened = session.exec(select(func.count()).select_from(ScreeningResultRow)
                              .where(ScreeningResultRow.outcome == "opened")).one()
    assert 5 <= opened < 30
    with Session(stack.engine) as session:
        assert session.exec(select(ScreeningJobRow.status)).all() == ["running"]

    # run again: the batch completes, every flagged student has exactly one case
    done = _import(stack, file)
    assert done.returncode == 0, done.stderr
    counts = _counts(done.stdout)
    assert counts["rows"] == "500" and counts["flagged"] == "30" and counts["unreadable rows"] == "3"
    assert int(counts["opened"]) == 30 - opened
    cases = await _cases(stack, 30)
    assert len(cases) == 30 and len({c.student_ref for c in cases}) == 30
    by_ref = {c.student_ref: c for c in cases}
    with Session(stack.engine) as session:
        deadlines = {c.case_id: session.exec(select(CaseDeadlineRow).where(CaseDeadlineRow.case_id == c.case_id))
                     .one() for c in cases}
        results = session.exec(select(ScreeningResultRow)).all()
    # the assessment deadline follows the flag: 24 hours for a screening reason (the school's
    # assess_within_screening), 72 for a risk factor alone; a screening answer is never a warning signal
    for n in range(30):
        case = by_ref[f"2026{n:04d}"]
        hours = (deadlines[case.case_id].due_at - case.opened_at).total_seconds() / 3600
        assert hours == (24 if n < 25 else 72), (n, hours)
        assert case.warning_signals == []
        assert case.screening_flags == (["phq9_item9"] if n < 20 else ["asq_positive"] if n < 25 else [])
    assert len(results) == 497 and sum(r.outcome == "opened" for r in results) == 30

    # the same batch again opens nothing new and records nothing twice
    again = _import(stack, file)
    assert again.returncode == 0 and _counts(again.stdout)["opened"] == "0"
    assert len(await _cases(stack, 31, seconds=2)) == 30
    with Session(stack.engine) as session:
        assert session.exec(select(func.count()).select_from(ScreeningResultRow)).one() == 497

    # a later batch: a student with a case open gets the new result on that case, not a second case;
    # a new student's rows far apart in the file open one case, whose deadline follows the worse of them
    newcomer = ["20279999", "新生", "7-1", "七年级", "七(1)班"]
    later = _xlsx(tmp_path / "2027春季复查.xlsx", [newcomer + ["phq9", 21] + [""] * 9, rows[0], rows[40],
                                                 newcomer + ["asq", ""] + [0, 1, 0, 0, 0, "", "", "", ""]])
    spring = subprocess.run([CRISISFLOW, "screening", "import", str(later), "--school", SCHOOL, "--batch",
                             "2027-spring", "--by", "p-chen"], capture_output=True, text=True, env=env, timeout=120)
    assert spring.returncode == 0, spring.stderr
    assert _counts(spring.stdout)["opened"] == "1" and _counts(spring.stdout)["annotated"] == "1"
    with Session(stack.engine) as session:
        note = session.exec(select(ScreeningResultRow).where(ScreeningResultRow.batch == "2027-spring",
                                                             ScreeningResultRow.student_ref == "20260000")).one()
        new = session.exec(select(ScreeningResultRow).where(ScreeningResultRow.batch == "2027-spring",
                                                            ScreeningResultRow.student_ref == "20279999")).all()
    assert note.outcome == "annotated" and note.case_id == by_ref["20260000"].case_id
    cases = await _cases(stack, 31)
    assert len(cases) == 31
    opened = next(c for c in cases if c.student_ref == "20279999")
    assert {(r.instrument, r.outcome, r.case_id) for r in new} == {("phq9", "opened", opened.case_id),
                                                                 ("asq", "opened", opened.case_id)}
    assert opened.warning_signals == [] and opened.screening_flags == ["asq_positive"]
    with Session(stack.engine) as session:
        due = session.exec(select(CaseDeadlineRow).where(CaseDeadlineRow.case_id == opened.case_id)).one().due_at
    assert (due - opened.opened_at).total_seconds() == 24 * 3600


async def test_the_api_imports_a_batch_and_the_archive_shows_each_student(sqlite_stack, tmp_path):
    stack = sqlite_stack
    directory.load(stack.engine, SCHOOLS)
    rows, broken = _rows()
    file = _xlsx(tmp_path / "results.xlsx", rows)
    psy = {"Authorization": f"Bearer {token('psychology_teacher', staff_id='p-chen')}"}

    async def job(dry_run: bool) -> dict:
        with file.open("rb") as upload:
            # (the batch names the cases' workflow ids: one of its own on this test's shared Temporal server)
            started = await stack.http.post("/screenings", params={"batch": "2026-autumn-api", "dry_run": dry_run},
                                            files={"file": ("results.xlsx", upload)}, headers=psy)
        assert started.status_code == 202, started.text
        for _ in range(300):
            state = (await stack.http.get(f"/screenings/{started.json()['job_id']}", headers=psy)).json()
            if state["status"] != "running":
                return state
            await asyncio.sleep(0.1)
        raise AssertionError("the import did not finish")

    preview = await job(dry_run=True)
    assert preview["status"] == "done" and preview["rows"] == 500 and preview["flagged"] == 30
    assert preview["opened"] == 0 and {e["line"] for e in preview["errors"]} == broken
    assert len(await _cases(stack, 1, seconds=1)) == 0  # a dry run opens nothing

    done = await job(dry_run=False)
    assert done["status"] == "done" and done["opened"] == 30 and done["annotated"] == 0
    assert len(await _cases(stack, 30)) == 30

    archive = await stack.http.get("/students/20260000", headers=psy)
    assert archive.status_code == 200
    record = archive.json()
    assert record["name"] == "学生0" and [c["state"] for c in record["cases"]] == ["identified"]
    assert record["screenings"][0]["instrument"] == "phq9" and record["screenings"][0]["outcome"] == "opened"
    assert record["screenings"][0]["items"]["q9"] == 1
    # roles that may not see who the student is get no archive; a head teacher of another class none either
    assert (await stack.http.get("/students/20260000", headers=auth("grade_head"))).status_code == 403
    other = {"Authorization": f"Bearer {token('head_teacher', staff_id='t-li')}"}  # 8-4; 20260000 is in 8-3
    assert (await stack.http.get("/students/20260000", headers=other)).status_code == 404
    # a file of another kind is refused at once, naming the field
    answer = await stack.http.post("/screenings", params={"batch": "x"}, files={"file": ("r.pdf", b"%PDF-")},
                                   headers=psy)
    assert answer.status_code == 415 and "file" in answer.json()["detail"]
    with Session(stack.engine) as session:
        reads = session.exec(select(AccessLogRow.staff_id).where(AccessLogRow.what == "read a student's archive",
                                                                  AccessLogRow.status == 200)).all()
    assert reads == ["p-chen"]
    # the archive is a page of the staff app too
    http = await web.sign_in(web.site(stack), "p-chen", web.give_sign_in(stack.engine, stack.settings, "p-chen"))
    page = await http.get("/ui/students/20260000")
    assert page.status_code == 200 and "学生0" in page.text and "已建个案" in page.text and "PHQ-9" in page.text
    await http.aclose()

    # the student moves to another school: nothing goes along until leadership transfers it, on record
    other = {"Authorization": f"Bearer {token('psychology_teacher', school='school-b')}"}
    assert (await stack.http.get("/students/20260000", headers=other)).status_code == 404
    moved = await stack.http.post("/students/20260000/transfer", headers=auth("leadership"), json={
        "to_school": "school-b", "to_student_ref": "20260000", "match": "new"})
    assert moved.status_code == 200 and moved.json()["results"] == 1
    arrived = (await stack.http.get("/students/20260000", headers=other)).json()
    assert arrived["cases"] == [] and arrived["screenings"][0]["batch"] == "school-a:2026-autumn-api"
    assert (await stack.http.post("/students/20260000/transfer", headers=auth("leadership"), json={
        "to_school": "school-a", "to_student_ref": "20260000", "match": "new"})).status_code == 422
    with Session(stack.engine) as session:
        assert session.exec(select(AccessLogRow.status).where(
            AccessLogRow.what == "transfer a student's archive")).all() == [200, 422]
