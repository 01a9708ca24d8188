"""E-mail through Apprise's SMTP plugin (TLS modes, auth, MIME): one message per person."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise

from channels.robots import Retry


def send_mail(address: str, to: str, subject: str, body: str, delivery_id: str) -> None:
    """Send to ``to`` through the school's mail URL; Retry with Apprise's reason when it fails."""
    parts = urlsplit(address)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "to"] + [("to", to)]
    plugin = apprise.Apprise.instantiate(urlunsplit(parts._replace(query=urlencode(query))))
    if plugin is None:
        raise Retry("e-mail: the school's mail URL is not a valid Apprise URL")
    plugin.headers["X-Crisisflow-Delivery"] = delivery_id  # the same id on every attempt
    with apprise.LogCapture(level=apprise.logging.WARNING) as captured:
        sent = plugin.send(body=body, title=subject)
    if not sent:
        lines = [line for line in captured.getvalue().splitlines() if line.strip()]
        raise Retry(("e-mail: " + (lines[-1] if lines else "not sent"))[:300])
