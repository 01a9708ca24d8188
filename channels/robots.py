"""Group robots of WeCom, DingTalk and Feishu, on any host (private WeCom, 政务钉钉).

The robot addresses are Apprise URLs (``wecombot://KEY``, ``dingtalk://SECRET@TOKEN/``,
``feishu://TOKEN/``), parsed and, for DingTalk, signed by Apprise. The POST is ours: the
platforms answer HTTP 200 with an ``errcode`` when they refuse a message (a bad signature, a
rate limit), and Apprise's plugins look only at the HTTP status, so a refused message would
count as sent. We read the answer, and keep each robot under its rate limit by spacing sends.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

import apprise
import httpx

Platform = Literal["wecom", "dingtalk", "feishu"]

PUBLIC_HOSTS: dict[Platform, str] = {
    "wecom": "https://qyapi.weixin.qq.com",
    "dingtalk": "https://oapi.dingtalk.com",
    "feishu": "https://open.feishu.cn",
}
#: errcodes that mean "later": rate limits and busy servers (others mean the message is refused)
RETRY_LATER = {-1, 45009, 130101, 9499, 11232, 11233}
#: the platforms' limit: 20 messages a minute per robot
PER_MINUTE = 20


class Retry(Exception):
    """Not sent now; sending again later may work (the reason is in the message)."""


class Refused(Exception):
    """The receiver refuses this message as such: sending it again cannot help."""


@dataclass(frozen=True)
class RobotRequest:
    url: str
    body: dict
    robot: str  # the robot's identity, for spacing (never logged: it is a credential)


def request_for(platform: Platform, address: str, api_base: str | None, text: str,
                mentions: list[str]) -> RobotRequest:
    plugin = apprise.Apprise.instantiate(address)
    base = (api_base or PUBLIC_HOSTS[platform]).rstrip("/")
    if plugin is None:
        raise Refused(f"{platform}: the robot address is not a valid Apprise URL")
    if platform == "wecom":
        return RobotRequest(f"{base}/cgi-bin/webhook/send?key={plugin.key}",
                            {"msgtype": "text", "text": {"content": text, "mentioned_list": mentions}},
                            f"wecom:{base}:{plugin.key}")
    if platform == "dingtalk":
        url = f"{base}/robot/send?access_token={plugin.token}"
        if plugin.secret:
            timestamp, sign = plugin.get_signature()  # DingTalk's 加签: HMAC-SHA256 of "timestamp\nsecret"
            url += f"&timestamp={timestamp}&sign={sign}"
        return RobotRequest(url, {"msgtype": "text", "text": {"content": text},
                                  "at": {"atUserIds": mentions, "isAtAll": False}}, f"dingtalk:{base}:{plugin.token}")
    return RobotRequest(f"{base}/open-apis/bot/v2/hook/{plugin.token}",
                        {"msg_type": "text", "content": {"text": text}}, f"feishu:{base}:{plugin.token}")


class Spacing:
    """At most ``per_minute`` sends per robot in any minute: a send waits for its slot, never dropped."""

    def __init__(self, per_minute: int = PER_MINUTE, window: float = 60.0) -> None:
        self.per_minute, self.window = per_minute, window
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, robot: str, max_wait: float) -> None:
        """Wait for a slot; Retry if it is further away than ``max_wait`` seconds."""
        while True:
            with self._lock:
                now = time.monotonic()
                sent = self._sent.setdefault(robot, deque())
                while sent and now - sent[0] >= self.window:
                    sent.popleft()
                if len(sent) < self.per_minute:
                    sent.append(now)
                    return
                wait = self.window - (now - sent[0])
            if wait > max_wait:
                raise Retry(f"robot busy: its {self.per_minute} messages a minute are taken; sent later")
            time.sleep(wait)


SPACING = Spacing()


def post(request: RobotRequest, spacing: Spacing = SPACING, timeout: float = 10.0) -> None:
    """Send; Retry or Refused when the robot did not take it."""
    spacing.take(request.robot, max_wait=timeout)
    try:
        response = httpx.post(request.url, json=request.body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise Retry(f"robot unreachable ({type(exc).__name__})") from None
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise Retry(f"robot answered HTTP {response.status_code}")
    if response.status_code >= 400:
        raise Refused(f"robot answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise Retry("robot answered with something that is not JSON") from None
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code in (0, None):
        return
    message = str(answer.get("errmsg") or answer.get("msg") or "")[:120]
    if code in RETRY_LATER:
        raise Retry(f"robot said errcode {code} {message}".strip())
    raise Refused(f"robot refused: errcode {code} {message}".strip())
