"""Messages that reach people: e-mail (a real SMTP server, aiosmtpd) and the WeCom and DingTalk group
robots (a loopback HTTP receiver that checks DingTalk's signature), plus the webhook.

Each (notification, person or group, channel) is one outbox row, sent once: a worker killed between
send and completion sends nothing twice; a robot down for a minute gets every message once after
it recovers, while the other channels, the refusal report and the timers go on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from sqlmodel import Session, select

from channels.robots import Refused, Spacing, post, request_for
from db import directory
from db.tables import DeliveryRow
from models.directory import read_directory
from tests.conftest import BIN, DIRECTORY_FILE, auth, free_port, make_settings, running_stack
from tests.receivers import DINGTALK_SECRET, DINGTALK_TOKEN, WECOM_KEY, channels_yaml, start_mailbox, start_robots
from tests.support import ASSESS_HIGH, REFUSE, eventually, open_body, step, workflow_view
from tests.test_worker_restart import _start_worker, stop_worker

STUDENT = "陈d0c5小雨"
SUMMARY = "在作文里写到想离开这个世界"


@pytest.fixture
def outside(tmp_path, monkeypatch):
    """The SMTP server, the robots and the channels file naming them (secrets in the environment and a file)."""
    robots, server = start_robots()
    box, controller = start_mailbox(free_port())
    secret = tmp_path / "dingtalk-secret"
    secret.write_text(DINGTALK_SECRET)
    channels = tmp_path / "channels.yaml"
    channels.write_text(channels_yaml(robots.url, box.port, str(secret)))
    monkeypatch.setenv("WECOM_KEY", WECOM_KEY)
    monkeypatch.setenv("DINGTALK_TOKEN", DINGTALK_TOKEN)
    yield robots, box, channels
    robots.failing.clear()
    controller.stop()
    server.shutdown()
    server.server_close()


def case_body() -> dict:
    body = open_body(name=STUDENT, summary=SUMMARY)
    body["student"]["class_id"] = "8-3"  # 张老师's class: her e-mail; the head teachers' DingTalk group
    return body


def rows(engine) -> list[DeliveryRow]:
    with Session(engine) as session:
        return list(session.exec(select(DeliveryRow)).all())


def assert_content_free(texts: list[str]) -> None:
    for text in texts:
        assert STUDENT not in text and SUMMARY not in text


async def test_each_person_and_group_is_told_once_on_each_channel(dev_env, webhook, outside, tmp_path):
    robots, box, channels = outside
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url, channels_file=channels)
    async with running_stack(dev_env.client, settings) as stack:
        directory.load(stack.engine, read_directory(DIRECTORY_FILE))
        case = (await stack.http.post("/cases", json=case_body(), headers=auth("head_teacher"))).json()
        await step(stack, case["case_id"], "assess", ASSESS_HIGH)

        def settled():
            out = rows(stack.engine)
            return out if out and all(r.status == "sent" for r in out) and len(box.messages) >= 1 else None

        sent = await eventually(settled, timeout=30)
        by_channel = Counter(r.channel for r in sent)
        assert by_channel["email"] >= 1 and by_channel["dingtalk"] >= 1 and by_channel["wecom"] >= 1
        # one row per (notification, recipient, channel), each sent exactly once
        assert len({(r.notification_id, r.recipient, r.channel) for r in sent}) == len(sent)
        assert len(box.messages) == by_channel["email"]
        assert len(robots.dingtalk) == by_channel["dingtalk"] and len(robots.wecom) == by_channel["wecom"]
        assert robots.refused_signatures == 0  # DingTalk's signature, as the receiver checks it
        # 张老师 is told by name, by e-mail, of the case by its short reference, with a link
        mail = box.to("zhang@school-a.example")[0]
        body = mail.get_body(("plain",)).get_content()
        ref = f"{case['case_id'][:4]}-{case['case_id'][4:8]}".upper()
        assert "张老师" in body and ref in body and f"/ui/cases/{case['case_id']}" in body
        assert mail["X-Crisisflow-Delivery"] in {r.delivery_id for r in sent}
        assert_content_free([body, str(mail["Subject"]), *robots.texts("dingtalk"), *robots.texts("wecom")])
        assert all(case["case_id"] not in t.split("/ui/cases/")[0] for t in robots.texts("dingtalk"))


async def test_a_worker_killed_between_send_and_completion_sends_nothing_twice(dev_env, webhook, outside,
                                                                                   tmp_path):
    robots, box, channels = outside
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url, channels_file=channels)
    address = dev_env.client.service_client.config.target_host
    worker = _start_worker(settings, address, CRISISFLOW_CHANNELS_FILE=str(channels))
    try:
        async with running_stack(dev_env.client, settings, with_worker=False) as stack:
            directory.load(stack.engine, read_directory(DIRECTORY_FILE))
            case_id = (await stack.http.post("/cases", json=case_body(), headers=auth("head_teacher"))).json()[
                "case_id"]
            await eventually(lambda: webhook.bodies(event="case_opened"))
            # the webhook holds the next notices open: their e-mails and robot messages go out (and are
            # recorded as sent) while the webhook's send is still in flight; then the worker dies
            webhook.arrived.clear()
            webhook.open_gate.clear()
            await step(stack, case_id, "assess", ASSESS_HIGH)
            await asyncio.get_running_loop().run_in_executor(None, webhook.arrived.wait, 20)
            def others_sent():
                out = rows(stack.engine)
                return any(r.channel == "email" for r in out) and all(
                    r.status == "sent" for r in out if r.channel != "webhook")

            await eventually(others_sent)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            webhook.open_gate.set()
            worker = _start_worker(settings, address, CRISISFLOW_CHANNELS_FILE=str(channels))
            for action in ("guardian_notice", "intervene", "refer"):
                await step(stack, case_id, action)

            def all_sent():
                out = rows(stack.engine)
                return out if out and all(r.status == "sent" for r in out) else None

            sent = await eventually(all_sent, timeout=90)
            # the SMTP server and the robots saw each message exactly once
            assert sorted(m["X-Crisisflow-Delivery"] for m in box.messages) == sorted(
                r.delivery_id for r in sent if r.channel == "email")
            for platform in ("dingtalk", "wecom"):
                texts = robots.texts(platform)
                assert len(texts) == sum(r.channel == platform for r in sent)
                assert all(n == 1 for n in Counter(texts).values()), Counter(texts)
            # the webhook's one in-flight send was repeated with the same Idempotency-Key, which
            # the receiver drops: after that, once each
            keys = Counter(h["Idempotency-Key"] for h in webhook.headers)
            assert set(keys) == {r.notification_id for r in sent if r.channel == "webhook"}
            assert all(n <= 2 for n in keys.values())
    finally:
        stop_worker(worker)


#: how long the robots are down
DOWN_FOR = 60


async def test_a_robot_down_for_a_minute_delays_nothing_else_and_loses_nothing(dev_env, webhook, outside,
                                                                                  tmp_path):
    robots, box, channels = outside
    policy = tmp_path / "fast.json"
    # a school whose refusal reports go at once (its policy's choice): the workflow's own step
    policy.write_text('{"version": "fast-channels", "assess_within_warning": "3s", "escalation_step": "2s", '
                      '"refusal_report": "automatic"}')
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'cf.db'}", webhook.url, channels_file=channels,
                             policy_file=policy)
    async with running_stack(dev_env.client, settings) as stack:
        directory.load(stack.engine, read_directory(DIRECTORY_FILE))
        robots.failing.set()
        down_at = time.monotonic()
        waiting = (await stack.http.post("/cases", json=case_body(), headers=auth("head_teacher"))).json()
        refused = (await stack.http.post("/cases", json=case_body(), headers=auth("head_teacher"))).json()
        for action in ("assess", "guardian_notice", "intervene", "refer"):
            await step(stack, refused["case_id"], action)
        await step(stack, refused["case_id"], "guardian_response", REFUSE)

        async def reported():
            return (await workflow_view(stack, refused["case_id"]))["state"] == "reported"

        async def escalated():
            return (await workflow_view(stack, waiting["case_id"]))["escalation_level"] >= 2

        # the refusal report and the ladder's timers ran on time, with every robot down
        await eventually(reported, timeout=20)
        await eventually(escalated, timeout=20)
        # the other channels delivered meanwhile
        await eventually(lambda: webhook.bodies(event="reported_to_authority"), timeout=20)
        await eventually(lambda: box.messages, timeout=20)
        assert robots.dingtalk == [] and robots.wecom == [] and robots.answered_500 > 0
        failing = [r for r in rows(stack.engine) if r.status == "failing"]
        assert failing and {r.channel for r in failing} <= {"dingtalk", "wecom"}
        board = (await stack.http.get("/dashboard", headers=auth("leadership"))).json()
        assert board["deliveries_failing"] >= 1
        assert {d["channel"] for d in board["failing_deliveries"]} <= {"dingtalk", "wecom"}
        listed = subprocess.run([str(BIN / "crisisflow"), "outbox"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "CRISISFLOW_DATABASE_URL": settings.resolved_database_url,
                                     "CRISISFLOW_KEYRING": settings.keyring.get_secret_value()})
        assert listed.returncode == 0 and "failing" in listed.stdout and "robot answered HTTP 500" in listed.stdout
        assert time.monotonic() - down_at < DOWN_FOR
        await asyncio.sleep(DOWN_FOR - (time.monotonic() - down_at))
        robots.failing.clear()  # back after a minute

        def all_sent():
            out = rows(stack.engine)
            return out if all(r.status == "sent" for r in out) else None

        sent = await eventually(all_sent, timeout=120, interval=1)
        for platform in ("dingtalk", "wecom"):
            texts = robots.texts(platform)
            assert len(texts) == sum(r.channel == platform for r in sent)
            assert all(n == 1 for n in Counter(texts).values())


def test_robots_are_spaced_never_dropped(outside):
    """Over a robot's rate a message waits for its slot: all arrive, never more than the limit per window."""
    robots, _, _ = outside
    spacing = Spacing(per_minute=3, window=1.0)
    for i in range(7):
        post(request_for("wecom", f"wecombot://{WECOM_KEY}", robots.url, f"第{i}条", []), spacing=spacing)
    assert robots.texts("wecom") == [f"第{i}条" for i in range(7)]
    times = robots.times
    # measured where the robot receives them: a request held up on a loaded machine arrives late, so the
    # receiver's gaps may fall short of the sender's 1 s by that delay (unspaced, all 7 arrive within ~50 ms)
    assert all(times[i + 3] - times[i] >= 0.8 for i in range(len(times) - 3)), times


def test_a_wrong_dingtalk_signature_is_refused_not_counted_as_sent(outside):
    robots, _, _ = outside
    with pytest.raises(Refused, match="310000"):
        post(request_for("dingtalk", f"dingtalk://SECwrong0000@{DINGTALK_TOKEN}/", robots.url, "测试", []))
    assert robots.refused_signatures == 1 and robots.dingtalk == []
