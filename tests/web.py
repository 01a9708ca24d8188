"""Drivers for the staff app: people with sign-ins, and signing in over HTTP or in Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pyotp

from api.web import accounts
from db import directory
from models.directory import Directory, Staff
from tests.conftest import OTHER_SCHOOL, SCHOOLS

PASSWORD = "kite-lantern-2026"
def load_people(engine, extra=None) -> None:
    """The test directory's people (and ``extra``, a Directory of more schools' people)."""
    directory.load(engine, SCHOOLS)
    if extra is not None:
        directory.load(engine, extra)


def other_school(*people: Staff) -> Directory:
    """The other test school with these people of its own."""
    return Directory(schools=[s for s in SCHOOLS.schools if s.id == OTHER_SCHOOL], staff=list(people))


def give_sign_in(engine, settings, staff_id: str) -> str | None:
    """A password (``PASSWORD``) and, where the role needs one, an enrolled TOTP secret (returned)."""
    person = directory.person(engine, staff_id)
    return accounts.set_up_directly(engine, staff_id, PASSWORD, datetime.now(UTC),
                                    with_totp=accounts.needs_second_factor(person.roles, settings))


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def site(stack) -> str:
    return stack.base_url.removesuffix("/api/v1")


async def sign_in(base: str, staff_id: str, secret: str | None = None, password: str = PASSWORD) -> httpx.AsyncClient:
    """An HTTP client signed in to the staff app (its cookie jar holds the session)."""
    http = httpx.AsyncClient(base_url=base, timeout=30)
    page = await http.get("/ui/login")
    answer = await http.post("/ui/login", data={"staff_id": staff_id, "password": password, "next": "/ui",
                                                "csrf": csrf_of(page.text)})
    assert answer.status_code == 303, answer.text
    if secret:
        page = await http.get(answer.headers["location"])
        answer = await http.post("/ui/login/code", data={"code": pyotp.TOTP(secret).now(), "next": "/ui",
                                                         "csrf": csrf_of(page.text)})
        assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui"
    return http


async def browser_sign_in(page, base: str, staff_id: str, secret: str | None = None,
                          password: str = PASSWORD) -> None:
    """Sign in as a person does: staff id, password, then the code from their authenticator app."""
    await page.goto(f"{base}/ui")
    await page.fill("#staff_id", staff_id)
    await page.fill("#password", password)
    await page.click("#signin")
    if secret:
        await page.wait_for_selector("#code")
        await page.fill("#code", pyotp.TOTP(secret).now())
        await page.click("#verify")
    await page.wait_for_selector("h1:has-text('我的任务'), h1:has-text('报告')")
