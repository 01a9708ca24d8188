"""The school directory: schools, classes and the people who work there (issue: people, not only roles).

Loaded from a YAML or JSON file (``crisisflow directory load FILE``, idempotent). A head teacher is
responsible for their own classes (班主任), a grade head for a grade; everyone else of a school sees
the whole school. Without a directory for a school, every role sees the whole school.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, delete, select

from models.domain import SCHOOL_ROLES, StaffRole
from models.tables import AuthorityRow, ClassRow, SchoolRow, StaffRow

Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SchoolClass(_Strict):
    id: Code
    grade: Name
    name: Name


class School(_Strict):
    id: Code
    name: Name
    authority: Name  # the authority it reports to, as its paper addresses it
    hotline: Annotated[str, Field(max_length=32)] | None = None
    language: Literal["zh-CN", "en"] = "zh-CN"  # the language of its paper
    classes: list[SchoolClass] = []


class Staff(_Strict):
    id: Code
    name: Name
    school: Code
    roles: Annotated[list[StaffRole], Field(min_length=1)]
    classes: list[Code] = []  # a head teacher's classes
    grades: list[Name] = []  # a grade head's grades
    email: Annotated[str, Field(max_length=200)] | None = None
    wecom: Annotated[str, Field(max_length=100)] | None = None
    dingtalk: Annotated[str, Field(max_length=100)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None

    @model_validator(mode="after")
    def _school_roles(self) -> "Staff":
        if any(role not in SCHOOL_ROLES for role in self.roles):
            raise ValueError("roles: a school's staff hold school roles (auditors are not in a directory)")
        return self


class AuthorityPerson(_Strict):
    id: Code
    name: Name
    email: Annotated[str, Field(max_length=200)] | None = None
    wecom: Annotated[str, Field(max_length=100)] | None = None
    dingtalk: Annotated[str, Field(max_length=100)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None


class Authority(_Strict):
    """An education authority (教育局, 省教育厅), the schools it oversees and its people (role ``edu_authority``)."""

    id: Code
    name: Name
    level: Literal["local", "province"] = "local"
    schools: list[Code] = []
    people: list[AuthorityPerson] = []


class Directory(_Strict):
    schools: list[School] = []
    staff: list[Staff] = []
    authorities: list[Authority] = []

    @model_validator(mode="after")
    def _consistent(self) -> "Directory":
        classes = {s.id: {c.id for c in s.classes} for s in self.schools}
        ids = [p.id for p in self.staff] + [p.id for a in self.authorities for p in a.people]
        if len(ids) != len(set(ids)):
            raise ValueError(f"people ids appear twice: {sorted({i for i in ids if ids.count(i) > 1})}")
        for authority in self.authorities:
            if authority.id in classes:
                raise ValueError(f"authority {authority.id}: the id is a school's")
        for person in self.staff:
            if person.school not in classes:
                raise ValueError(f"staff {person.id}: school {person.school} is not in the directory")
            unknown = set(person.classes) - classes[person.school]
            if unknown:
                raise ValueError(f"staff {person.id}: classes {sorted(unknown)} are not classes of {person.school}")
        return self


class DirectoryError(ValueError):
    pass


def read_directory(path: Path) -> Directory:
    """A directory file (YAML or JSON), checked; DirectoryError saying what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        return Directory.model_validate(raw or {})
    except OSError as exc:
        raise DirectoryError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, yaml.YAMLError, ValidationError) as exc:
        raise DirectoryError(f"{path}: {exc}") from None


def load(engine: Engine, directory: Directory) -> dict[str, int]:
    """Make the database's directory of each listed school what the file says (idempotent)."""
    with Session(engine) as session, session.begin():
        for school in directory.schools:
            session.merge(SchoolRow(school_id=school.id, name=school.name, authority=school.authority,
                                    hotline=school.hotline, language=school.language))
            session.exec(delete(ClassRow).where(col(ClassRow.school_id) == school.id))
            session.exec(delete(StaffRow).where(col(StaffRow.school_id) == school.id))
            session.add_all(ClassRow(school_id=school.id, class_id=c.id, grade=c.grade, name=c.name)
                            for c in school.classes)
        for authority in directory.authorities:
            session.merge(AuthorityRow(authority_id=authority.id, name=authority.name, level=authority.level,
                                       schools=authority.schools))
            session.exec(delete(StaffRow).where(col(StaffRow.school_id) == authority.id))
        session.flush()
        session.add_all(
            StaffRow(staff_id=p.id, name=p.name, school_id=p.school, roles=[r.value for r in p.roles],
                     classes=p.classes, grades=p.grades, email=p.email, wecom=p.wecom, dingtalk=p.dingtalk,
                     phone=p.phone)
            for p in directory.staff
        )
        session.add_all(
            StaffRow(staff_id=p.id, name=p.name, school_id=a.id, roles=[StaffRole.edu_authority.value], classes=[],
                     grades=[], email=p.email, wecom=p.wecom, dingtalk=p.dingtalk, phone=p.phone)
            for a in directory.authorities for p in a.people
        )
    return {"schools": len(directory.schools), "staff": len(directory.staff),
            "authorities": len(directory.authorities),
            "classes": sum(len(s.classes) for s in directory.schools)}


def of_school(engine: Engine, school_id: str) -> Directory:
    """One school's directory, as the file would state it."""
    with Session(engine) as session:
        school = session.get(SchoolRow, school_id)
        if school is None:
            return Directory()
        classes = session.exec(select(ClassRow).where(col(ClassRow.school_id) == school_id)
                               .order_by(col(ClassRow.class_id))).all()
        staff = session.exec(select(StaffRow).where(col(StaffRow.school_id) == school_id)
                             .order_by(col(StaffRow.staff_id))).all()
    return Directory(
        schools=[School(id=school.school_id, name=school.name, authority=school.authority, hotline=school.hotline,
                        language=school.language,
                        classes=[SchoolClass(id=c.class_id, grade=c.grade, name=c.name) for c in classes])],
        staff=[Staff(id=p.staff_id, name=p.name, school=p.school_id, roles=p.roles, classes=p.classes,
                     grades=p.grades, email=p.email, wecom=p.wecom, dingtalk=p.dingtalk, phone=p.phone)
               for p in staff],
    )


def person(engine: Engine, staff_id: str) -> StaffRow | None:
    with Session(engine) as session:
        return session.get(StaffRow, staff_id)


def has_people(engine: Engine) -> bool:
    """Is any directory loaded? (A database not yet migrated has none.)"""
    try:
        with Session(engine) as session:
            return session.exec(select(StaffRow.staff_id).limit(1)).first() is not None
    except DBAPIError:
        return False


def class_of(engine: Engine, school_id: str, class_id: str) -> ClassRow | None:
    with Session(engine) as session:
        return session.get(ClassRow, (school_id, class_id))


def visible_classes(engine: Engine, staff_id: str, role: StaffRole) -> set[str] | None:
    """The classes whose cases this person reads and acts on, or None for the whole school.

    A head teacher: their classes; a grade head: the classes of their grades; others, and anyone of
    a school without a directory: the whole school.
    """
    if role not in (StaffRole.head_teacher, StaffRole.grade_head):
        return None
    with Session(engine) as session:
        row = session.get(StaffRow, staff_id)
        if row is None:
            return None
        if role is StaffRole.head_teacher:
            return set(row.classes)
        return set(session.exec(select(ClassRow.class_id).where(col(ClassRow.school_id) == row.school_id,
                                                                 col(ClassRow.grade).in_(row.grades))).all())


def people_for(engine: Engine, school_id: str, role: str, class_id: str | None) -> list[str]:
    """Who a notice addressed to a role reaches: the class's head teacher, the grade's grade head,
    the school's people of other roles; the education authority: the people of the authorities
    overseeing the school, local or provincial (staff ids; empty without a directory)."""
    if role in ("education_authority", "provincial_authority"):
        level = "province" if role == "provincial_authority" else "local"
        bodies = [a.authority_id for a in authorities_of(engine, school_id) if a.level == level]
        with Session(engine) as session:
            return list(session.exec(select(StaffRow.staff_id).where(col(StaffRow.school_id).in_(bodies))
                                     .order_by(col(StaffRow.staff_id))).all())
    with Session(engine) as session:
        staff = session.exec(select(StaffRow).where(col(StaffRow.school_id) == school_id)
                             .order_by(col(StaffRow.staff_id))).all()
        grade = None
        if class_id:
            row = session.get(ClassRow, (school_id, class_id))
            grade = row.grade if row else None
    chosen = []
    for p in staff:
        if role not in p.roles:
            continue
        if role == StaffRole.head_teacher and class_id is not None and class_id not in p.classes:
            continue
        if role == StaffRole.grade_head and grade is not None and grade not in p.grades:
            continue
        chosen.append(p.staff_id)
    return chosen


def school(engine: Engine, school_id: str) -> SchoolRow | None:
    with Session(engine) as session:
        return session.get(SchoolRow, school_id)


def authorities_of(engine: Engine, school_id: str) -> list[AuthorityRow]:
    """The authorities overseeing a school, the local ones first."""
    with Session(engine) as session:
        rows = session.exec(select(AuthorityRow).order_by(col(AuthorityRow.authority_id))).all()
    return sorted((a for a in rows if school_id in a.schools), key=lambda a: a.level != "local")


def authority_schools(engine: Engine, authority_id: str | None) -> set[str]:
    """The schools an authority oversees (an ``edu_authority`` token's scope)."""
    if not authority_id:
        return set()
    with Session(engine) as session:
        row = session.get(AuthorityRow, authority_id)
    return set(row.schools) if row else set()


def names(engine: Engine, staff_ids: set[str]) -> dict[str, str]:
    """People's names by staff id (those of the directory)."""
    if not staff_ids:
        return {}
    with Session(engine) as session:
        rows = session.exec(select(StaffRow.staff_id, StaffRow.name).where(col(StaffRow.staff_id).in_(staff_ids)))
        return dict(rows.all())
