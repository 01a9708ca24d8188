"""Hardening: body and string caps, the write rate per staff member, token key ids and expiry."""

from __future__ import annotations

import secrets
import subprocess
from datetime import UTC, datetime, timedelta

import jwt

from api.auth import issue_token
from models.case import Actor
from tests.conftest import BIN, SECRET, auth, make_settings, running_stack, service_env, token
from tests.support import open_body


async def test_bodies_and_strings_are_capped(sqlite_stack):
    stack = sqlite_stack
    huge = open_body(summary="很" * 30_000)  # ~90 KB of UTF-8
    r = await stack.http.post("/cases", json=huge, headers=auth("head_teacher"))
    assert r.status_code == 413 and "65536 bytes" in r.json()["detail"]

    async def chunks():  # no Content-Length: counted as it streams
        for _ in range(100):
            yield b"x" * 1024

    r = await stack.http.post(
        "/cases", content=chunks(), headers={**auth("head_teacher"), "Content-Type": "application/json"}
    )
    assert r.status_code == 413

    r = await stack.http.post("/cases", json=open_body(summary="长" * 4001), headers=auth("head_teacher"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "summary"]
    r = await stack.http.post("/cases", json=open_body(name="名" * 201), headers=auth("head_teacher"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "student", "name"]
    assert (await stack.http.get("/cases", headers=auth("leadership"))).json()["total"] == 0  # nothing half-written


async def test_writes_are_rate_limited_per_staff_member(dev_env, tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", None, write_rate_per_minute=3)
    async with running_stack(dev_env.client, settings, with_worker=False) as stack:
        mine = {"Authorization": f"Bearer {token('head_teacher', staff_id='ht-busy')}"}
        for _ in range(3):
            assert (await stack.http.post("/cases", json={}, headers=mine)).status_code == 422
        r = await stack.http.post("/cases", json={}, headers=mine)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "ht-busy" in r.json()["detail"]
        other = {"Authorization": f"Bearer {token('head_teacher', staff_id='ht-calm')}"}
        assert (await stack.http.post("/cases", json={}, headers=other)).status_code == 422
        assert (await stack.http.get("/cases", headers=mine)).status_code == 200  # reads are not writes


async def test_tokens_carry_a_key_id_and_expire(dev_env, tmp_path):
    old = secrets.token_urlsafe(48)
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", None, previous_secrets=[old])
    actor = Actor(staff_id="ht-1", role="head_teacher", school_id="school-a")
    async with running_stack(dev_env.client, settings, with_worker=False) as stack:

        async def status(bearer: str) -> tuple[int, str]:
            r = await stack.http.get("/cases", headers={"Authorization": f"Bearer {bearer}"})
            return r.status_code, r.text

        current = issue_token(SECRET, actor, timedelta(minutes=5))
        assert jwt.get_unverified_header(current)["kid"]
        assert (await status(current))[0] == 200
        assert (await status(issue_token(old, actor, timedelta(minutes=5))))[0] == 200  # rotated out, still valid
        code, text = await status(issue_token(secrets.token_urlsafe(48), actor, timedelta(minutes=5)))
        assert code == 401 and "unknown key" in text
        no_kid = jwt.encode(
            {
                "iss": "crisisflow",
                "sub": "x",
                "role": "head_teacher",
                "school": "school-a",
                "iat": 0,
                "exp": 9999999999,
            },
            SECRET,
            algorithm="HS256",
        )
        assert (await status(no_kid))[0] == 401
        expired = issue_token(SECRET, actor, timedelta(seconds=1), now=datetime(2026, 1, 1, tzinfo=UTC))
        code, text = await status(expired)
        assert code == 401 and "expired" in text


def test_token_issue_caps_the_lifetime(tmp_path):
    r = subprocess.run(
        [str(BIN / "crisisflow"), "token", "issue", "--staff-id", "a", "--role", "auditor", "--ttl", "30d"],
        capture_output=True,
        text=True,
        env=service_env(),
    )
    assert r.returncode == 2 and "7 days" in r.stderr
    r = subprocess.run(
        [
            str(BIN / "crisisflow"),
            "token",
            "issue",
            "--staff-id",
            "a",
            "--role",
            "leadership",
            "--school",
            "s",
            "--auditor-pii",
        ],
        capture_output=True,
        text=True,
        env=service_env(),
    )
    assert r.returncode == 2 and "auditors only" in r.stderr
    r = subprocess.run(
        [str(BIN / "crisisflow"), "token", "issue", "--staff-id", "a", "--role", "auditor", "--auditor-pii"],
        capture_output=True,
        text=True,
        env=service_env(),
    )
    assert r.returncode == 0 and jwt.decode(r.stdout.strip(), SECRET, algorithms=["HS256"], issuer="crisisflow")[
        "grants"
    ] == ["auditor_pii"]
