"""Reading a screening result file: CSV or XLSX (``python-calamine``), one row per student and
instrument, checked row by row.

The header is ``ref,name,class_id,grade,class_name,instrument,total,q1,q2,…`` (columns in any order;
``total`` or the items may be empty where the platform exported the other). Each row is read into a
``ScreeningRow`` (the student as a case would hold them, the instrument, the items) and scored; a row
that cannot be read is kept as a ``RowError`` with its line number (the header is line 1) and the
reason, and never stops the others. Nothing here writes anything: the preview is what an import
would do.

A ``Reading`` opens the file and checks it as a whole first (header, size) and notes where each
student's rows end; its rows are then read and scored one by one, by the preview (``read``) or by
the import, which starts a student's case as soon as their last row is read.
"""

from __future__ import annotations

import copy
import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import BaseModel, ValidationError
from python_calamine import CalamineWorkbook

from models.case import Student
from models.screening import Flags, Score, ScoringError, ScreeningInstrument, ScreeningRules, score

REQUIRED = ("ref", "name", "class_id", "grade", "class_name", "instrument")
ITEM_COLUMNS = tuple(f"q{i}" for i in range(1, 10))
#: the largest file a screening import reads: a city's screening is 100,000 rows, a few MB
MAX_ROWS = 200_000
#: the widest sheet read: the columns above and the platform's own (gender, age, …)
MAX_COLUMNS = 100
#: the most a spreadsheet may hold unpacked: a 200,000-row sheet is some 60 MB of XML
MAX_UNZIPPED = 256 * 1024 * 1024
#: the most cells a sheet's range may span (rows × columns): 100,000 students × 16 columns is 1.6 million
MAX_CELLS = 5_000_000
#: the longest cell read: a name, a class, a score are short; a longer cell is a broken row
MAX_CELL = 1000


class FileError(ValueError):
    """The file as a whole cannot be read (format, header): nothing of it is imported."""


#: why a row's student cannot be read (pydantic's error types), in words
_ROW_WORDS = {"string_too_short": "不能为空", "missing": "不能为空", "string_too_long": "太长",
              "value_error": "含有不可见的控制字符或没有可见的文字", "string_pattern_mismatch": "格式不对"}


class RowError(BaseModel):
    line: int
    reason: str


class ScreeningRow(BaseModel):
    """One readable row: who, which instrument, the result scored and what the rules flag."""

    line: int
    student: Student
    score: Score
    flags: Flags
    warning: str | None = None  # imported with a caveat (a flagged student of a class the directory lacks)


class Preview(BaseModel):
    """What importing the file would do."""

    rows: int
    flagged: int
    #: students a case would open for (several flagged rows of one student open one case)
    cases: int
    watch: int
    errors: list[RowError]
    read: list[ScreeningRow] = []

    @property
    def warnings(self) -> list[RowError]:
        """Rows taken with a caveat (a flagged student of a class the directory does not list)."""
        return [RowError(line=r.line, reason=r.warning) for r in self.read if r.warning]

    @classmethod
    def of(cls, read_rows: list[ScreeningRow], errors: list[RowError]) -> Preview:
        opening = {r.student.ref for r in read_rows if r.flags.opens_case}
        watch = {r.student.ref for r in read_rows if r.flags.watch} - opening
        return cls(rows=len(read_rows) + len(errors), flagged=sum(r.flags.flagged for r in read_rows),
                   cases=len(opening), watch=len(watch), errors=errors, read=read_rows)


def _table(path: Path, data: bytes | None = None) -> Callable[[], Iterator[list[str]]]:
    """The file's rows as text cells, from the top each time it is called (an import reads the file
    twice: once for where each student's rows end, once for the rows); ``data``: its bytes, when they
    came by upload (kept off disk)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        data = data if data is not None else path.read_bytes()
        check_xlsx(path.name, data)
        try:
            sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        except Exception:  # noqa: BLE001 - calamine's errors are its own types
            raise FileError(f"{path.name}：不是可读取的 .xlsx 表格") from None
        return lambda: ([c.strip() if type(c) is str else _text(c) for c in row] for row in sheet.iter_rows())
    if suffix in (".csv", ".txt"):
        try:
            text = (data if data is not None else path.read_bytes()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FileError(f"{path.name}：CSV 文件须为 UTF-8 编码（另存为“CSV UTF-8”）") from None
        return lambda: _csv_rows(path.name, text)
    raise FileError(f"{path.name}：筛查结果文件须为 .csv 或 .xlsx")


def _csv_rows(name: str, text: str) -> Iterator[list[str]]:
    rows = csv.reader(io.StringIO(text))
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error:  # a field past the csv module's limit (128 KiB), a stray quote at the end
            raise FileError(f"{name}：第 {rows.line_num} 行无法读取（单元格过长或引号不配对）") from None
        yield [c.strip() for c in row]


#: a tag's name and what follows it, up to the next tag (text holds no "<"; an attribute value may hold ">")
_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c)[\s/>]([^<]*)")
_REF = re.compile(rb"""(?:^|\s)r\s*=\s*["']([A-Za-z]*)([0-9]*)["']""")


def _column(letters: bytes) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


def check_xlsx(name: str, data: bytes) -> None:
    """Refuse a spreadsheet that would take the reader down, before it is read: the reader allocates the
    sheet's whole range (from the first cell to the farthest), so one cell far away in a 2 KB file asks
    for hundreds of GB, and a zip of a few KB may unpack to GB. Each part is unpacked once, in pieces,
    its real size counted to the end of its compressed data (a part that unpacks to other than it
    declares is refused), and every row and cell position is read off the XML as the reader places it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise FileError(f"{name}：不是可读取的 .xlsx 表格") from None
    unpacked = 0
    for part in parts:
        if part.file_size > MAX_UNZIPPED or part.flag_bits & 0x1:
            raise FileError(f"{name}：解压后超过 {MAX_UNZIPPED // 2**20} MB，或已加密；请另存为普通的 .xlsx 或 CSV")
        rows = cols = row = col = 0
        tail = b""
        whole = copy.copy(part)
        whole.file_size = MAX_UNZIPPED + 1  # unpack to the end of the data, not to the size it declares
        try:
            with archive.open(whole) as stream:
                size = 0
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    unpacked += len(chunk)
                    if unpacked > MAX_UNZIPPED:
                        raise FileError(f"{name}：解压后超过 {MAX_UNZIPPED // 2**20} MB；请拆分文件")
                    if not part.filename.endswith((".xml", ".rels")) and "worksheets" not in part.filename:
                        continue
                    text, cut = tail + chunk, (tail + chunk).rfind(b"<")
                    text, tail = text[:cut], text[cut:]
                    if len(tail) > 1 << 20:  # one tag a megabyte long: no spreadsheet writes that
                        raise FileError(f"{name}：表格内容格式异常，无法读取")
                    for tag, attributes in _TAG.findall(text):
                        ref = _REF.search(attributes)
                        if tag == b"row":
                            row, col = int(ref.group(2)) if ref and ref.group(2) else row + 1, 0
                            rows = max(rows, row)
                        else:
                            col = _column(ref.group(1)) if ref and ref.group(1) else col + 1
                            if ref and ref.group(2):
                                row = int(ref.group(2))
                                rows = max(rows, row)
                            cols = max(cols, col)
                        if rows > MAX_ROWS + 1:
                            raise FileError(f"{name}：超过 {MAX_ROWS} 行（第 {row} 行有内容）；请拆分文件")
                        if cols > MAX_COLUMNS:
                            raise FileError(f"{name}：超过 {MAX_COLUMNS} 列（第 {row} 行第 {col} 列有内容）；"
                                            f"请删去多余的列")
                        if rows * cols > MAX_CELLS:
                            raise FileError(f"{name}：表格范围过大（第 {row} 行第 {col} 列有内容）；"
                                            f"请删去表格以外的内容")
                if size != part.file_size:
                    raise zipfile.BadZipFile(part.filename)
        except FileError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError):
            raise FileError(f"{name}：不是可读取的 .xlsx 表格（压缩内容损坏）") from None


def _text(cell) -> str:
    """A spreadsheet cell as text: whole numbers without ``.0`` (a class id of 7 is "7")."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return "" if cell is None else str(cell).strip()


def _int(value: str, field: str) -> int | None:
    if value == "":
        return None
    if len(value) > 20:  # no score has more digits (and Python refuses to read 4,300 of them)
        raise ScoringError(field, f"“{value[:20]}…”不是分数")
    if value.isdigit() and value.isascii():
        return int(value)
    try:
        number = float(value)
    except ValueError:
        raise ScoringError(field, f"“{value}”不是数字") from None
    if not number.is_integer():
        raise ScoringError(field, f"“{value}”不是整数")
    return int(number)


class Reading:
    """A file opened for reading: its header checked, its size within bounds, and the line where each
    student's rows end (``last_line``), all before any row is scored. An import acts on a student as
    soon as their last row is read, while the rest of the file is still being read; the preview reads
    it all first."""

    def __init__(self, path: Path, school_id: str, rules: ScreeningRules, classes: set[str] | None = None,
                 data: bytes | None = None) -> None:
        self.school_id, self.rules, self.classes = school_id, rules, classes
        self._table = _table(path, data)
        cells = self._table()
        header = next(cells, None)
        if not header:
            raise FileError(f"{path.name}：文件是空的")
        self.names = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED if c not in self.names]
        if missing:
            raise FileError(f"{path.name}：表头缺少 {', '.join(missing)} 列"
                            f"（应为 ref,name,class_id,grade,class_name,instrument,total,q1,…）")
        # a repeated column: the last, as in ``rows``
        at, name_at, class_at = (len(self.names) - 1 - self.names[::-1].index(c) for c in ("ref", "name", "class_id"))
        #: each student ref's last line in the file (the header is line 1), and who its first row names
        self.last_line: dict[str, int] = {}
        self.first: dict[str, tuple[int, str, str]] = {}
        for line, row in enumerate(cells, start=2):
            if line - 1 > MAX_ROWS:
                raise FileError(f"{path.name}：超过 {MAX_ROWS} 行；请拆分文件")
            if any(row):
                ref = row[at] if at < len(row) else ""
                self.last_line[ref] = line
                self.first.setdefault(ref, (line, *(row[i] if i < len(row) else "" for i in (name_at, class_at))))

    def rows(self, progress: Callable[[int], None] | None = None) -> Iterator[tuple[int, str, ScreeningRow | RowError]]:
        """Each row's line, its student ref as written, and the row read and scored, or why it cannot
        be; blank lines say nothing. ``progress`` is told each row's number as it is read."""
        cells = self._table()
        next(cells)
        width = len(self.names)
        for line, row in enumerate(cells, start=2):
            if progress:
                progress(line - 1)
            if not any(row):
                continue
            values = dict(zip(self.names, row + [""] * (width - len(row)), strict=False))
            long = next((name for name, value in values.items() if len(value) > MAX_CELL), None)
            if long is not None:
                yield line, values["ref"], RowError(line=line, reason=f"{long}：超过 {MAX_CELL} 个字符")
                continue
            try:
                item: ScreeningRow | RowError = _row(line, values, self.school_id, self.rules, self.classes)
                if (differs := self._differs(line, values)) is not None:
                    item.warning = "；".join(w for w in (item.warning, differs) if w)
            except ScoringError as exc:
                item = RowError(line=line, reason=str(exc))
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                item = RowError(line=line, reason=f"{field}：{_ROW_WORDS.get(first['type'], '填写有误')}")
            yield line, values["ref"], item


    def _differs(self, line: int, values: dict[str, str]) -> str | None:
        """The row names its student (by ref) other than the ref's first row does: two children under one
        number, or a typing error. Their rows are taken as one student's (a flagged one is never dropped),
        and the job lists the row so that a person checks it."""
        first_line, name, class_id = self.first.get(values["ref"], (line, values["name"], values["class_id"]))
        what = [label for label, was, now in (("姓名", name, values["name"]), ("班级", class_id, values["class_id"]))
                if was.strip() != now.strip()]
        if first_line == line or not what:
            return None
        return (f"ref：与第 {first_line} 行同一学号，但{'和'.join(what)}不同；已按同一名学生处理，"
                f"请核对是否为两名学生或录入错误")


def read_all(reading: Reading, progress: Callable[[int], None] | None = None) -> Preview:
    """Every row of an opened file, read and scored: the preview."""
    read_rows, errors = [], []
    for _, _, item in reading.rows(progress):
        (errors if isinstance(item, RowError) else read_rows).append(item)
    return Preview.of(read_rows, errors)


def read(path: Path, school_id: str, rules: ScreeningRules, classes: set[str] | None = None,
         progress: Callable[[int], None] | None = None, data: bytes | None = None) -> Preview:
    """Read and score every row. ``classes``: the school's classes in the directory (a row naming
    another is an error); ``progress`` is told each row's number as it is read; ``data``: the file's
    bytes when uploaded (``path`` then only names it)."""
    return read_all(Reading(path, school_id, rules, classes, data), progress)


def _row(line: int, values: dict[str, str], school_id: str, rules: ScreeningRules,
         classes: set[str] | None) -> ScreeningRow:
    try:
        instrument = ScreeningInstrument(values["instrument"].strip().lower())
    except ValueError:
        raise ScoringError("instrument",
                           f"“{values['instrument']}”不是可识别的量表（应为 phq9、gad7 或 asq）") from None
    student = Student(ref=values["ref"], name=values["name"], school_id=school_id, grade=values["grade"],
                      class_name=values["class_name"], class_id=values["class_id"] or None)
    items = {c: _int(values.get(c, ""), c) for c in ITEM_COLUMNS if values.get(c, "") != ""}
    result = score(instrument, items, _int(values.get("total", ""), "total"))
    flags = rules.flags(result)
    warning = None
    if classes is not None and student.class_id not in classes:
        unknown = f"“{values['class_id']}”不是名录中本校的班级"
        if not flags.opens_case:
            raise ScoringError("class_id", unknown)
        # a flagged student is never dropped: the case opens without a class (its notices go to the
        # psychology teachers and leadership), and the job lists the row
        student = student.model_copy(update={"class_id": None})
        warning = f"class_id：{unknown}；个案已建立但未关联班级，由心理教师和学校领导接收通知"
    # its parts are validated models already: put together without checking them a second time
    return ScreeningRow.model_construct(line=line, student=student, score=result, flags=flags, warning=warning)


def write_errors(preview: Preview, path: Path) -> Path:
    """Every row that could not be read, with its line number and the reason (CSV, UTF-8 with BOM
    so that a spreadsheet opens the Chinese correctly)."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "reason"])
        writer.writerows([e.line, e.reason] for e in preview.errors)
    return path
