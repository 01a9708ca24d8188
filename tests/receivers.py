"""Loopback stand-ins for the outside world: an SMTP server (aiosmtpd), the chat robots' HTTP API,
a webhook that can be switched down, and an OpenTelemetry collector.

The robot receiver speaks WeCom's and DingTalk's robot API on one port: WeCom at
``/cgi-bin/webhook/send?key=…``, DingTalk at ``/robot/send?access_token=…&timestamp=…&sign=…``,
where it checks the signature as DingTalk does (HMAC-SHA256 of ``timestamp\\nsecret``, base64,
at most an hour old) and answers ``errcode 310000`` when it does not match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

DINGTALK_TOKEN = "dt0123456789abcdef"
DINGTALK_SECRET = "SECdt0123456789abcdef0123456789"
WECOM_KEY = "wc-0123-4567-89ab"


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@dataclass
class Robots:
    """Every message each robot took; ``failing`` answers 500; ``refused_signatures`` counts bad signs."""

    url: str = ""
    wecom: list[dict] = field(default_factory=list)
    dingtalk: list[dict] = field(default_factory=list)
    failing: threading.Event = field(default_factory=threading.Event)
    refused_signatures: int = 0
    answered_500: int = 0
    times: list[float] = field(default_factory=list)

    def texts(self, platform: str) -> list[str]:
        return [m["text"]["content"] for m in getattr(self, platform)]


def start_robots() -> tuple[Robots, ThreadingHTTPServer]:
    robots = Robots()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if robots.failing.is_set():
                with lock:
                    robots.answered_500 += 1
                return self._answer(500, {"errcode": -1, "errmsg": "system busy"})
            if url.path == "/cgi-bin/webhook/send" and query.get("key") == WECOM_KEY:
                with lock:
                    robots.wecom.append(body)
                    robots.times.append(time.monotonic())
                return self._answer(200, {"errcode": 0, "errmsg": "ok"})
            if url.path == "/robot/send" and query.get("access_token") == DINGTALK_TOKEN:
                stamp = query.get("timestamp", "0")
                expected = base64.b64encode(hmac.new(DINGTALK_SECRET.encode(), f"{stamp}\n{DINGTALK_SECRET}".encode(),
                                                     hashlib.sha256).digest()).decode()
                fresh = stamp.isdigit() and abs(time.time() * 1000 - int(stamp)) < 3600 * 1000
                if not fresh or not hmac.compare_digest(expected, query.get("sign", "")):
                    with lock:
                        robots.refused_signatures += 1
                    return self._answer(200, {"errcode": 310000, "errmsg": "sign not match"})
                with lock:
                    robots.dingtalk.append(body)
                    robots.times.append(time.monotonic())
                return self._answer(200, {"errcode": 0, "errmsg": "ok"})
            return self._answer(200, {"errcode": 93000, "errmsg": "invalid webhook url"})

        def _answer(self, status: int, answer: dict) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    robots.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return robots, server


def start_mailbox(port: int) -> tuple[Mailbox, Controller]:
    box = Mailbox(port=port)
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    return box, controller


def channels_yaml(robots_url: str, smtp_port: int, secret_file: str) -> str:
    """A school's channels file: secrets from the environment and a file, the robots' host configurable."""
    return f"""
schools:
  school-a:
    email: "mailto://127.0.0.1:{smtp_port}?from=crisis@school-a.example&mode=insecure"
    wecom:
      api_base: {robots_url}
      robots:
        leadership: "wecombot://${{WECOM_KEY}}"
        psychology_teacher: "wecombot://${{WECOM_KEY}}"
    dingtalk:
      api_base: {robots_url}
      robots:
        head_teacher: "dingtalk://${{file:{secret_file}}}@${{DINGTALK_TOKEN}}/"
        leadership: "dingtalk://${{file:{secret_file}}}@${{DINGTALK_TOKEN}}/"
"""


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))


class _Loopback:
    server: ThreadingHTTPServer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SwitchableWebhook(_Loopback):
    """A webhook that answers 204, or 503 while ``failing`` is set (a receiver that is down)."""

    def __init__(self) -> None:
        self.failing = failing = threading.Event()

        class Handler(_Quiet):
            def do_POST(self):  # noqa: N802
                self.body()
                self.send_response(503 if failing.is_set() else 204)
                self.end_headers()

        self.server = _serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


class TraceCollector(_Loopback):
    """An OTLP/HTTP trace receiver (``/v1/traces``): the spans it was sent, decoded (``keep``), or
    taken and dropped."""

    def __init__(self, keep: bool = True) -> None:
        self.spans = spans = []

        class Handler(_Quiet):
            def do_POST(self):  # noqa: N802
                body = self.body()
                if keep:
                    request = ExportTraceServiceRequest.FromString(body)
                    spans.extend(s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

        self.server = _serve(Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
