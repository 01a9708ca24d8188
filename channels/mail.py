"""E-mail through Apprise's SMTP plugin (TLS modes, auth, MIME): one message per person."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise

from channels.robots import Retry

#: Apprise's schemes for mail
MAIL_SCHEMES = frozenset({"mailto", "mailtos"})


def schemes(plugin) -> set[str]:
    """The URL schemes an Apprise plugin answers to."""
    found: set[str] = set()
    for name in ("protocol", "secure_protocol"):
        value = getattr(plugin, name, None)
        found |= {value} if isinstance(value, str) else set(value or ())
    return found


def mail_plugin(address: str, to: str):
    """Apprise's mail plugin for the school's mail URL, sending to ``to``; None when the URL is not one
    (malformed, or another service's)."""
    try:
        parts = urlsplit(address)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "to"] + [("to", to)]
        plugin = apprise.Apprise.instantiate(urlunsplit(parts._replace(query=urlencode(query))))
    except ValueError:  # urlsplit: an unclosed IPv6 bracket, a port that is not a number
        return None
    return plugin if plugin is not None and schemes(plugin) & MAIL_SCHEMES else None


def send_mail(address: str, to: str, subject: str, body: str, delivery_id: str) -> None:
    """Send to ``to`` through the school's mail URL; Retry with Apprise's reason when it fails."""
    plugin = mail_plugin(address, to)
    if plugin is None:
        raise Retry("e-mail: the school's mail URL is not an Apprise mail URL (mailto:// or mailtos://)")
    plugin.headers["X-Crisisflow-Delivery"] = delivery_id  # the same id on every attempt
    with apprise.LogCapture(level=apprise.logging.WARNING) as captured:
        sent = plugin.send(body=body, title=subject)
    if not sent:
        lines = [line for line in captured.getvalue().splitlines() if line.strip()]
        raise Retry(("e-mail: " + (lines[-1] if lines else "not sent"))[:300])
