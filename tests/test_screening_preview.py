"""A screening platform's result file, previewed as a psychology teacher would run it: counts, the
cases that would open, and every unreadable row with its line, in XLSX and in CSV."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import xlsxwriter

from db.engine import make_engine, migrate
from models import directory
from tests.conftest import KEYRING, SCHOOL, SCHOOLS, service_env

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
    file = tmp_path / "2026秋季普查.xlsx"
    book = xlsxwriter.Workbook(str(file))
    sheet = book.add_worksheet("结果")
    for r, values in enumerate([HEADER, *rows]):
        for c, value in enumerate(values):
            if value != "":
                sheet.write(r, c, value)
    book.close()

    done = _preview(file, tmp_path)
    assert done.returncode == 0, done.stderr
    counts = _counts(done.stdout)
    assert counts["rows"] == "500" and counts["flagged"] == "30" and counts["cases to open"] == "30"
    assert counts["unreadable rows"] == "3" and counts["rules"] == "screening-2026-11"
    with (tmp_path / "2026秋季普查.xlsx.errors.csv").open(encoding="utf-8-sig") as errors:
        found = {int(row["line"]): row["reason"] for row in csv.DictReader(errors)}
    assert set(found) == broken
    assert "instrument" in found[102] and "q3" in found[202] and "total" in found[302]
    assert "学生" not in "".join(found.values())  # the errors file names lines and fields, never students


def test_a_csv_preview_refuses_a_class_the_directory_does_not_have(tmp_path):
    rows, _ = _rows()
    rows[5][2] = "9-9"
    file = tmp_path / "results.csv"
    with file.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerows([HEADER, *rows])
    done = _preview(file, tmp_path)
    assert done.returncode == 0, done.stderr
    counts = _counts(done.stdout)
    assert counts["rows"] == "500" and counts["unreadable rows"] == "4" and counts["cases to open"] == "29"
    errors = (tmp_path / "results.csv.errors.csv").read_text(encoding="utf-8-sig")
    assert "7,class_id: '9-9' is not a class of school-a in the directory" in errors


def test_a_file_without_the_columns_is_refused_as_a_whole(tmp_path):
    file = tmp_path / "wrong.csv"
    file.write_text("学号,姓名,总分\n2026,某某,12\n", encoding="utf-8")
    done = _preview(file, tmp_path)
    assert done.returncode == 2 and "the header lacks ref, name" in done.stderr
