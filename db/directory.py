"""The school directory in the database: loading a directory file, and who is who, who sees which classes,
who a notice reaches. The file's schema is ``models/directory.py``."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, delete, select

from db.tables import AuthorityRow, ClassRow, SchoolRow, StaffRow
from models.directory import Contact, Directory, School, SchoolClass, Staff
from models.domain import StaffRole


def load(engine: Engine, directory: Directory) -> dict[str, int]:
    """Make the database's directory of each listed school what the file says (idempotent). A person
    the file lists at a school other than the one the database has them at has moved: their row moves
    with them (``moved`` in the counts)."""
    listed = [p.id for p in directory.staff] + [p.id for a in directory.authorities for p in a.people]
    with Session(engine) as session, session.begin():
        here = {s.id for s in directory.schools} | {a.id for a in directory.authorities}
        moved = session.exec(select(StaffRow.staff_id).where(col(StaffRow.staff_id).in_(listed),
                                                             col(StaffRow.school_id).not_in(here))).all()
        if moved:
            session.exec(delete(StaffRow).where(col(StaffRow.staff_id).in_(moved)))
        for school in directory.schools:
            session.merge(SchoolRow(school_id=school.id, name=school.name, authority=school.authority,
                                    contact_name=school.contact.name if school.contact else None,
                                    contact_phone=school.contact.phone if school.contact else None,
                                    hotlines=[h.model_dump() for h in school.hotlines], language=school.language))
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
                     title=p.title, classes=p.classes, grades=p.grades, email=p.email, wecom=p.wecom,
                     dingtalk=p.dingtalk, phone=p.phone)
            for p in directory.staff
        )
        session.add_all(
            StaffRow(staff_id=p.id, name=p.name, school_id=a.id, roles=[StaffRole.edu_authority.value], classes=[],
                     grades=[], email=p.email, wecom=p.wecom, dingtalk=p.dingtalk, phone=p.phone)
            for a in directory.authorities for p in a.people
        )
    return {"schools": len(directory.schools), "staff": len(directory.staff), "moved": len(moved),
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
        schools=[School(id=school.school_id, name=school.name, authority=school.authority,
                        contact=Contact(name=school.contact_name, phone=school.contact_phone)
                        if school.contact_name and school.contact_phone else None,
                        hotlines=school.hotlines or [], language=school.language,
                        classes=[SchoolClass(id=c.class_id, grade=c.grade, name=c.name) for c in classes])],
        staff=[Staff(id=p.staff_id, name=p.name, school=p.school_id, roles=p.roles, title=p.title, classes=p.classes,
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

    A head teacher: their classes; a grade head: the classes of their grades; a reporter (``staff``): none
    (only the cases they opened, ``store.sees_case``); others, and anyone of a school without a directory:
    the whole school.
    """
    if role is StaffRole.staff:
        return set()
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


def people_of(engine: Engine, authority_or_school: str) -> list[StaffRow]:
    """The people of an authority (or of a school), by name."""
    with Session(engine) as session:
        return list(session.exec(select(StaffRow).where(col(StaffRow.school_id) == authority_or_school)
                                 .order_by(col(StaffRow.name))).all())


def authority(engine: Engine, authority_id: str) -> AuthorityRow | None:
    with Session(engine) as session:
        return session.get(AuthorityRow, authority_id)


def names(engine: Engine, staff_ids: set[str]) -> dict[str, str]:
    """People's names by staff id (those of the directory)."""
    if not staff_ids:
        return {}
    with Session(engine) as session:
        rows = session.exec(select(StaffRow.staff_id, StaffRow.name).where(col(StaffRow.staff_id).in_(staff_ids)))
        return dict(rows.all())
