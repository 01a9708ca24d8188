"""Confidentiality: nothing readable about a student leaves the API and the worker.

A unique name and narrative go into a case that runs the whole refusal path;
then the Temporal dev server's SQLite file, our logs, the webhook bodies and
the exported history are searched as bytes (UTF-8, JSON-escaped, base64).
Also: the codec server, key rotation, the access log and its chain.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.temporal import data_converter
from crypto.codec import KEY_ID, payload_case
from crypto.keyring import Keyring
from db import directory
from models import search_attributes as sa
from models.directory import Directory, Staff
from tests.conftest import (
    BIN,
    KEYRING,
    OTHER_SCHOOL,
    SCHOOL,
    SCHOOLS,
    TEMPORAL,
    auth,
    make_settings,
    running_stack,
    service_env,
    token,
)
from tests.support import ASSESS_HIGH, document_text, eventually, open_body, open_case, refusal_path, step
from workflows import replay

CRISISFLOW = str(BIN / "crisisflow")


def forms(text: str) -> list[bytes]:
    """Every way ``text`` could sit in a file: UTF-8, JSON \\u-escaped, and base64 at each alignment."""
    raw = text.encode()
    found = [raw, json.dumps(text).strip('"').encode(), json.dumps(text, ensure_ascii=False).strip('"').encode()]
    for variant in (raw, found[1]):
        for pad in range(3):
            encoded = base64.b64encode(b"\0" * pad + variant)
            skip = (pad * 4 + 2) // 3  # characters that also carry the padding bytes
            found.append(encoded[skip + 1 : -4])  # the stretch made of ``text`` alone
    return found


def assert_absent(secrets_: list[str], blobs: dict[str, bytes]) -> None:
    for where, blob in blobs.items():
        assert blob, f"{where} is empty: the check would prove nothing"
        for text in secrets_:
            for form in forms(text):
                assert form not in blob, f"{text!r} found in {where} as {form[:40]!r}"


def test_the_search_finds_what_it_looks_for():
    name = "林晓" + secrets.token_hex(3)
    for prefix in (b"", b"x", b"xy", b'{"student": {"name": "'):
        for text in (name.encode(), json.dumps(name)[1:-1].encode()):
            assert any(f in base64.b64encode(prefix + text + b'"}}') for f in forms(name)), prefix
    assert any(f in json.dumps({"n": name}).encode() for f in forms(name))
    assert any(f in json.dumps({"n": name}, ensure_ascii=False).encode() for f in forms(name))


async def test_nothing_readable_about_the_student_leaves(tmp_path, webhook, json_log):
    name = f"林{secrets.token_hex(4)}晓"
    summary = f"近三周情绪低落，曾对同桌说想消失，标记{secrets.token_hex(6)}"
    temporal_db = tmp_path / "temporal.db"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL, data_converter=data_converter(KEYRING), search_attributes=list(sa.ALL),
        ui=False, dev_server_log_level="error", dev_server_database_filename=str(temporal_db),
    )
    async with env:
        settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url)
        async with running_stack(env.client, settings) as stack:
            case_id = (await open_case(stack, open_body(name=name, summary=summary)))["case_id"]
            await refusal_path(stack, case_id)
            await eventually(lambda: any(b["event"] == "case_closed" for b in webhook.received))
            export = await stack.http.get(f"/cases/{case_id}/history/export", headers=auth("auditor"))
            assert export.status_code == 200
            # the right role still sees them, through the API
            shown = (await stack.http.get(f"/cases/{case_id}", headers=auth("head_teacher"))).json()
            assert (shown["student"]["name"], shown["summary"]) == (name, summary)
            timeline = await stack.http.get(f"/cases/{case_id}/history", headers=auth("leadership"))
            assert timeline.status_code == 200 and name not in timeline.text
            docs = (await stack.http.get(f"/cases/{case_id}/documents", headers=auth("head_teacher"))).json()
            report = next(d for d in docs if d["kind"] == "authority_report")
            served = await document_text(stack, report["document_id"], "head_teacher")
            assert name in served  # unsealed for the reader
    server_files = b"".join(p.read_bytes() for p in tmp_path.glob("temporal.db*"))
    our_database = b"".join(p.read_bytes() for p in tmp_path.glob("cf.db*"))
    documents = b"".join(p.read_bytes() for p in settings.documents_dir.rglob("*") if p.is_file())
    assert_absent([name, summary], {
        "the Temporal server's SQLite file": server_files,
        "the read model's SQLite file (sealed columns)": our_database,
        "the rendered documents (sealed files)": documents,
        "our logs": json_log.getvalue().encode(),
        "the webhook bodies": b"\n".join(webhook.raw),
        "the exported history": export.content,
    })
    # and the payloads in the export are ours, sealed for this case
    started = json.loads(export.content)["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    sealed = json_format.ParseDict(started, Payload())
    assert sealed.metadata["encoding"] == b"binary/encrypted" and payload_case(sealed) == case_id


async def test_codec_server_decodes_for_permitted_readers_only(sqlite_stack):
    stack = sqlite_stack
    case = await open_case(stack)
    export = (await stack.http.get(f"/cases/{case['case_id']}/history/export", headers=auth("auditor"))).json()
    payloads = export["events"][0]["workflowExecutionStartedEventAttributes"]["input"]
    codec = stack.base_url.removesuffix("/api/v1") + "/codec"

    async def decode(headers=None, body=payloads):
        return await stack.http.post(f"{codec}/decode", json=body, headers=headers or {})

    r = await decode(auth("leadership"))
    assert r.status_code == 200, r.text
    plain = json.loads(base64.b64decode(r.json()["payloads"][0]["data"]))
    assert plain["case"]["student"]["name"] == case["student"]["name"]
    assert (await decode(auth("auditor", pii=True))).status_code == 200

    assert (await decode()).status_code == 401
    assert (await decode({"Authorization": "Bearer not-a-token"})).status_code == 401
    for refused in (auth("leadership", OTHER_SCHOOL), auth("grade_head"), auth("auditor")):
        r = await decode(refused)
        assert r.status_code == 403 and "payloads" not in r.json(), r.text
    # the class's scope too (issue 26, 2): the head teacher of another class, who gets 404 on the case,
    # does not decode its student either; the class's own head teacher does
    directory.load(stack.engine, SCHOOLS)
    other_class = {"Authorization": f"Bearer {token('head_teacher', SCHOOL, staff_id='t-zhang')}"}  # 8-3
    assert (await stack.http.get(f"/cases/{case['case_id']}", headers=other_class)).status_code == 404
    r = await decode(other_class)
    assert r.status_code == 403 and case["student"]["name"] not in r.text
    directory.load(stack.engine, Directory(schools=SCHOOLS.schools, staff=[
        Staff(id="t-wu", name="吴老师", school=SCHOOL, roles=["head_teacher"], classes=["7-1"])]))
    own_class = {"Authorization": f"Bearer {token('head_teacher', SCHOOL, staff_id='t-wu')}"}
    assert (await decode(own_class)).status_code == 200
    # a payload altered in transit does not decode
    tampered = json.loads(json.dumps(payloads))
    data = bytearray(base64.b64decode(tampered["payloads"][0]["data"]))
    data[-1] ^= 1
    tampered["payloads"][0]["data"] = base64.b64encode(bytes(data)).decode()
    r = await decode(auth("leadership"), tampered)
    assert r.status_code == 422 and "failed authentication" in r.text
    # encode seals with the current key; decode opens it again
    plain_payload = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                     "data": base64.b64encode(b'{"q": 1}').decode()}
    sealed = (
        await stack.http.post(f"{codec}/encode", json={"payloads": [plain_payload]}, headers=auth("leadership"))
    ).json()
    assert sealed["payloads"][0]["data"] != plain_payload["data"]
    assert (await stack.http.post(f"{codec}/decode", json=sealed, headers=auth("auditor", pii=True))).json() == {
        "payloads": [plain_payload]
    }
    # CORS: the UI's origin only (the stack's settings name none, so no origin is admitted)
    preflight = await stack.http.options(
        f"{codec}/decode", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_codec_cors_admits_the_temporal_ui_origin(dev_env, tmp_path):
    ui = "http://127.0.0.1:8233"
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", None, ui_origins=[ui])
    async with running_stack(dev_env.client, settings, with_worker=False) as stack:
        codec = stack.base_url.removesuffix("/api/v1") + "/codec/decode"
        ok = await stack.http.options(
            codec,
            headers={
                "Origin": ui,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert ok.headers["access-control-allow-origin"] == ui
        assert ok.headers["access-control-allow-credentials"] == "true"
        other = await stack.http.options(
            codec, headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in other.headers
        api = await stack.http.get("/health", headers={"Origin": ui})
        assert "access-control-allow-origin" not in api.headers  # the API itself is not opened to the UI


async def test_key_rotation_keeps_old_cases_readable(dev_env, tmp_path, webhook):
    ring = tmp_path / "keyring.json"
    made = subprocess.run([CRISISFLOW, "keys", "init", str(ring)], capture_output=True, text=True, env=service_env())
    assert made.returncode == 0 and ring.stat().st_mode & 0o777 == 0o600, made.stderr
    again = subprocess.run([CRISISFLOW, "keys", "init", str(ring)], capture_output=True, text=True, env=service_env())
    assert again.returncode == 2 and "exists" in again.stderr
    keyring = Keyring(str(ring))
    old_key = keyring.keys().current
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=data_converter(keyring),
    )
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url, keyring=str(ring))
    async with running_stack(client, settings) as stack:
        case_id = (await open_case(stack))["case_id"]
        await step(stack, case_id, "assess", ASSESS_HIGH)
        rotated = subprocess.run(
            [CRISISFLOW, "keys", "rotate", "--keyring", str(ring)],
            capture_output=True,
            text=True,
            env=service_env(),
            timeout=60,
        )
        assert rotated.returncode == 0, rotated.stderr
        new_key = keyring.keys().current  # the running worker and API re-read the file
        assert new_key != old_key and f"new current key {new_key}" in rotated.stdout
        for action in ("guardian_notice", "intervene", "refer"):
            await step(stack, case_id, action)
        await step(stack, case_id, "guardian_response", {"decision": "consent", "by": "guardian"})
        closed = await step(stack, case_id, "close")
        assert closed["state"] == "closed"
        export = await stack.http.get(f"/cases/{case_id}/history/export", headers=auth("auditor"))
    history = json.loads(export.content)
    used = {
        base64.b64decode(p["metadata"][KEY_ID]).decode()
        for e in history["events"]
        for attrs in e.values()
        if isinstance(attrs, dict)
        for p in _payloads(attrs)
    }
    assert {old_key, new_key} <= used, used
    path = tmp_path / "case.json"
    path.write_bytes(export.content)
    report = (await replay.replay_files([path], data_converter(Keyring(str(ring)))))[0]
    assert report.deterministic, report.divergence
    assert [t.action for t in report.transitions][-2:] == ["close", "closure_decision"]
    # the CLI replays it with the keyring too; without the old key it cannot read it
    r = subprocess.run(
        [CRISISFLOW, "audit", "replay", str(path)],
        capture_output=True,
        text=True,
        env=service_env(keyring=str(ring)),
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    stranger = subprocess.run(
        [CRISISFLOW, "audit", "replay", str(path)], capture_output=True, text=True, env=service_env(), timeout=120
    )
    assert stranger.returncode == 1 and "not in the keyring" in stranger.stdout


def _payloads(node) -> list[dict]:
    found = []
    if isinstance(node, dict):
        if "metadata" in node and "data" in node and KEY_ID in node["metadata"]:
            found.append(node)
        for value in node.values():
            found += _payloads(value)
    elif isinstance(node, list):
        for value in node:
            found += _payloads(value)
    return found


async def test_access_log_records_reads_and_actions_and_shows_tampering(sqlite_stack):
    stack = sqlite_stack
    case_id = (await open_case(stack))["case_id"]
    await stack.http.get(f"/cases/{case_id}", headers=auth("grade_head"))
    await stack.http.get(f"/cases/{case_id}", headers=auth("leadership", OTHER_SCHOOL))  # refused, and on record
    await step(stack, case_id, "assess", ASSESS_HIGH)
    await stack.http.get(f"/cases/{case_id}/history", headers=auth("auditor"))

    r = await stack.http.get("/audit/access-log", params={"case_id": case_id}, headers=auth("leadership"))
    assert r.status_code == 200, r.text
    entries = list(reversed(r.json()["items"]))
    seen = [(e["staff_id"], e["role"], e["what"], e["method"], e["status"]) for e in entries]
    assert seen[:5] == [
        ("head-teacher-1", "head_teacher", "open a case", "POST", 201),
        ("grade-head-1", "grade_head", "read a case", "GET", 200),
        ("leadership-1", "leadership", "read a case", "GET", 403),
        ("psychology-teacher-1", "psychology_teacher", "assess", "POST", 200),
        ("auditor-1", "auditor", "read a case's history", "GET", 200),
    ]
    assert all(e["client"] == "127.0.0.1" and e["case_id"] in (case_id, None) for e in entries)
    # who may read it: auditors anywhere, leadership for a case of their school
    assert (await stack.http.get("/audit/access-log", headers=auth("auditor"))).json()["total"] >= 6
    assert (
        await stack.http.get("/audit/access-log", params={"case_id": case_id}, headers=auth("leadership", OTHER_SCHOOL))
    ).status_code == 403
    assert (await stack.http.get("/audit/access-log", headers=auth("leadership"))).status_code == 403
    assert (
        await stack.http.get("/audit/access-log", params={"case_id": case_id}, headers=auth("head_teacher"))
    ).status_code == 403

    env = service_env(database_url=stack.settings.resolved_database_url)
    def verify():
        return subprocess.run(
            [CRISISFLOW, "audit", "verify-access-log"], capture_output=True, text=True, env=env, timeout=60
        )
    ok = verify()
    assert ok.returncode == 0 and ", 0 problem(s)" in ok.stdout, ok.stdout
    target = entries[1]["seq"]
    with stack.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE access_log SET staff_id = 'nobody' WHERE seq = ?", (target,))
    edited = verify()
    assert edited.returncode == 1 and f"access log row {target} (case {case_id}): entry altered" in edited.stdout
    with stack.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM access_log WHERE seq = ?", (target,))
    removed = verify()
    assert removed.returncode == 1 and f"access log row {target}: missing" in removed.stdout


@pytest.mark.parametrize(
    "secret, keyring_set, complaint",
    [
        (None, True, "CRISISFLOW_SECRET is not set"),
        ("short", True, "at least 32"),
        ("a" * 40, True, "guessable"),
        (secrets.token_urlsafe(48), False, "CRISISFLOW_KEYRING is not set"),
    ],
    ids=["no-secret", "short-secret", "guessable-secret", "no-keyring"],  # the same ids in every xdist worker
)
def test_api_refuses_to_start_in_production_with_weak_secrets(tmp_path, secret, keyring_set, complaint):
    env = service_env(env="prod", data_dir=tmp_path, secret=secret)
    if secret is None:
        env.pop("CRISISFLOW_SECRET")
    if not keyring_set:
        env.pop("CRISISFLOW_KEYRING")
    for command in ("api", "worker"):
        r = subprocess.run([CRISISFLOW, command], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 2 and complaint in r.stderr, r.stderr
        assert "refuses to start" in r.stderr


def test_a_weak_keyring_is_refused(tmp_path):
    weak = json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(b"\0" * 32).decode()}})
    r = subprocess.run(
        [CRISISFLOW, "api"], capture_output=True, text=True, env=service_env(env="prod", keyring=weak), timeout=60
    )
    assert r.returncode == 2 and "not random" in r.stderr
    short = json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(b"0123456789abcdef").decode()}})
    r = subprocess.run(
        [CRISISFLOW, "worker"], capture_output=True, text=True, env=service_env(env="prod", keyring=short), timeout=60
    )
    assert r.returncode == 2 and "16 bytes; AES-256 needs 32" in r.stderr


async def test_documents_are_sealed_on_disk_and_checked_when_served(sqlite_stack):
    stack = sqlite_stack
    case = await open_case(stack)
    await step(stack, case["case_id"], "assess", ASSESS_HIGH)

    async def notice():
        r = await stack.http.get(f"/cases/{case['case_id']}/documents", headers=auth("head_teacher"))
        return r.json() or None

    document = (await eventually(notice))[0]
    folder = stack.settings.documents_dir / case["case_id"]
    # made off the click: the school's PDF, and what every form prints (its facts), sealed
    assert sorted(f.name.split(".", 1)[1] for f in folder.iterdir()) == ["facts.json.sealed", "zh-CN.pdf.sealed"]
    served = await stack.http.get(f"/documents/{document['document_id']}", headers=auth("head_teacher"))
    assert served.status_code == 200 and served.content.startswith(b"%PDF-")
    assert case["student"]["name"] in await document_text(stack, document["document_id"], "head_teacher")
    english = await stack.http.get(f"/documents/{document['document_id']}", params={"lang": "en"},
                                   headers=auth("head_teacher"))
    assert english.status_code == 200 and english.content.startswith(b"%PDF-")
    # the forms made on first request are sealed beside it and kept
    files = list(folder.iterdir())
    assert sorted(f.name.split(".", 1)[1] for f in files) == [
        "en.pdf.sealed", "facts.json.sealed", "zh-CN.pdf.sealed", "zh-CN.txt.sealed"]
    for stored in files:
        assert stored.read_bytes().startswith(b"sealed:v1:")
        assert case["student"]["name"].encode() not in stored.read_bytes()
    again = await stack.http.get(f"/documents/{document['document_id']}", params={"lang": "en"},
                                 headers=auth("head_teacher"))
    assert again.content == english.content and again.headers["etag"] == english.headers["etag"]
    file = next(f for f in files if f.name.endswith(".zh-CN.pdf.sealed"))
    assert served.headers["cache-control"] == "no-store"
    sealed = bytearray(file.read_bytes())
    middle = len(sealed) * 3 // 4  # inside the base64 ciphertext, where every character carries six bits
    sealed[middle] = ord("A") if sealed[middle] != ord("A") else ord("B")
    file.write_bytes(bytes(sealed))
    r = await stack.http.get(f"/documents/{document['document_id']}", headers=auth("head_teacher"))
    assert r.status_code == 500 and r.json()["detail"] == "document failed its integrity check"


async def test_no_record_no_answer(sqlite_stack):
    """If the access cannot be written down, the caller gets 503 and none of the case."""
    stack = sqlite_stack
    case = await open_case(stack)
    with stack.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE access_log RENAME TO access_log_gone")
    r = await stack.http.get(f"/cases/{case['case_id']}", headers=auth("head_teacher"))
    assert r.status_code == 503 and "could not be recorded" in r.json()["detail"]
    assert case["student"]["name"] not in r.text and case["case_id"] not in r.text
