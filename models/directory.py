"""The school directory: schools, classes and the people who work there (issue: people, not only roles).

This module is the directory file's schema; ``db/directory.py`` keeps it in the database and answers
who is who. Loaded from a YAML or JSON file (``crisisflow directory load FILE``, idempotent). A head teacher is
responsible for their own classes (班主任), a grade head for a grade; everyone else of a school sees
the whole school. Without a directory for a school, every role sees the whole school.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from config.yaml_files import load_yaml
from models.domain import SCHOOL_ROLES, StaffRole

Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SchoolClass(_Strict):
    id: Code
    grade: Name
    name: Name


Phone = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^[0-9+()（） -]+$")]


class Contact(_Strict):
    """The school's contact for what its paper asks of others (a hospital's feedback, an authority's
    questions): a person and a telephone."""

    name: Name
    phone: Phone


class Hotline(_Strict):
    """A line a family may call, by its own name: the school's own, or a public one (全国心理援助热线 12356).
    Paper prints each under its name, never a public line as the school's number."""

    name: Name
    number: Phone


class School(_Strict):
    id: Code
    name: Name
    #: the local authority it reports to, as its paper addresses it: where the directory lists a local
    #: authority overseeing the school, the two names are the same (checked)
    authority: Name
    contact: Contact | None = None
    hotlines: Annotated[list[Hotline], Field(max_length=5)] = []
    language: Literal["zh-CN", "en"] = "zh-CN"  # the language of its paper
    classes: list[SchoolClass] = []


class Staff(_Strict):
    id: Code
    name: Name
    school: Code
    roles: Annotated[list[StaffRole], Field(min_length=1)]
    #: what the person does at the school (数学教师, 宿管员, 校医): how a reporter (``staff``) is named
    title: Annotated[str, Field(max_length=100)] | None = None
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
        # one addressee per kind: the refusal reports go to the authority the school names, which is the local
        # authority the directory lists over it
        for school in self.schools:
            local = [a.name for a in self.authorities if a.level == "local" and school.id in a.schools]
            if local and school.authority not in local:
                raise ValueError(f"school {school.id}: its authority {school.authority} is not the local authority "
                                 f"the directory lists over it ({', '.join(local)})")
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
        raw = json.loads(text) if path.suffix.lower() == ".json" else load_yaml(text)
        return Directory.model_validate(raw or {})
    except OSError as exc:
        raise DirectoryError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, yaml.YAMLError, ValidationError) as exc:
        raise DirectoryError(f"{path}: {exc}") from None
    except RecursionError:  # JSON nested past what the parser takes
        raise DirectoryError(f"{path}: nested too deep") from None
