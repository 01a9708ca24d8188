"""How the staff app's pages are made: Jinja2 templates, zh-CN, every time in Beijing time.

Every page goes out with ``Cache-Control: no-store`` (names of minors must not stay in a shared
computer's cache) and a Content-Security-Policy that lets in only this server's own script (the
vendored htmx) and styles, so a name or narrative someone typed can never run as script.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from api.access import INCIDENT_READERS
from api.sessions import set_cookie
from intake.jobs import IMPORTERS
from models.domain import OBLIGATION_ZH, RISK_ZH, ROLE_ZH, STATE_ZH, SUPERVISOR_ROLES
from paper.facts import TITLES
from paper.words import Lang, word

BEIJING = timezone(timedelta(hours=8), "北京时间")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


class PageError(Exception):
    """A page that cannot be shown: its status and what to tell the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bj(value: datetime | None, with_date: bool = True) -> str:
    """A time as people here read it: Beijing time (the label is in the column or beside it)."""
    if value is None:
        return "—"
    local = value.astimezone(BEIJING)
    return local.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


def span(seconds: float) -> str:
    """A length of time in words, to the minute: 2天3小时, 5小时20分钟, 5小时, 12分钟, 不到1分钟."""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{mins}分钟" if mins else f"{hours}小时"
    return f"{mins}分钟" if mins else "不到1分钟"


def left(due: datetime | None, now: datetime) -> str:
    """Time left to a deadline, or how long it is overdue."""
    if due is None:
        return "—"
    seconds = (due - now).total_seconds()
    return f"剩余 {span(seconds)}" if seconds > 0 else f"已逾期 {span(seconds)}"


def _word(code, kind: str) -> str:
    """``{{ code|word("state") }}``: a code in Chinese words."""
    if code is None:
        return "—"
    value = getattr(code, "value", code)
    try:
        return word(Lang.zh, kind, value)
    except KeyError:
        return str(value)


_env = Environment(loader=PackageLoader("api.web", "templates"), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
def filesize(size: int) -> str:
    """A file's size as a person reads it: 1.2 MB, 340 KB, 0.2 KB."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.0f} KB" if size >= 10 * 1024 else f"{size / 1024:.1f} KB"


def failed_effect(failure) -> str:
    """A notice or document that failed for good, in words: what it was and when (the activity's own
    reason is for the administrator, in the read model and ``crisisflow`` commands, never on a page)."""
    if failure.effect == "document":
        kind = next((k for k in TITLES[Lang.zh] if f"-{k.value}-" in failure.effect_id
                     or failure.effect_id.endswith(f"-{k.value}")), None)
        what = f"《{TITLES[Lang.zh][kind]}》未能生成" if kind else "一份文书未能生成"
    elif failure.effect == "watch":
        what = "未能将学生列入重点关注名单"
    else:
        what = "一条通知未能送出"
    return f"{what}（北京时间 {bj(failure.at)}），系统多次重试仍未成功。请人工办理，并请系统管理员查看原因"


_env.filters.update(bj=bj, word=_word, filesize=filesize, failed_effect=failed_effect)
_env.globals.update(left=left, span=span, state_zh=STATE_ZH, risk_zh=RISK_ZH, role_zh=ROLE_ZH,
                    obligation_zh=OBLIGATION_ZH)


def page(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    """A whole page (or, for an htmx request of a fragment, the template as it is)."""
    settings = request.app.state.settings
    session = getattr(request.state, "web_session", None)
    context.setdefault("viewer", getattr(request.state, "viewer", None))
    context.setdefault("person", getattr(request.state, "person", None))
    viewer = context["viewer"]
    context.setdefault("supervisor", viewer is not None and viewer.role in SUPERVISOR_ROLES)
    context.setdefault("may_import", viewer is not None and viewer.role in IMPORTERS)
    context.setdefault("reads_incidents", viewer is not None and viewer.role in INCIDENT_READERS)
    html = _env.get_template(name).render(
        request=request, now=datetime.now(UTC), csrf=session.csrf if session else "",
        demo=settings.demo, totp_off=not settings.totp, **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if fresh := getattr(request.state, "new_cookie", None):  # a session begun by this request
        set_cookie(response, fresh, secure=request.url.scheme == "https")
    return response


#: The public pages (the guardian's link, the help page): no script at all, nothing from another host, and no
#: referrer (a link's token is in its path).
PUBLIC_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def public_page(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    """A page for people without an account (no session, no menu, no script)."""
    html = _env.get_template(name).render(request=request, now=datetime.now(UTC), **context)
    return HTMLResponse(html, status_code=status_code, headers=PUBLIC_HEADERS)
