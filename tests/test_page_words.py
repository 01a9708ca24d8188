"""Every word a person sees is Chinese, every time Beijing time (issue 27, point 3): each role walks the staff
app from its start page, following every link, opening every action form, and sending each form empty and
each refused action; no page shows a message in English, an internal code or a UTC time."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from models.case import COMMANDS
from tests import a11y
from tests.support import ASSESS_LOW, CLOSE, REFUSE, act, open_body, open_case, step
from tests.test_staff_app import _shots
from tests.web import browser_sign_in, csrf_of, give_sign_in, load_people, sign_in, site

#: words a Chinese page may carry in Latin letters: names of instruments, formats and apps
LATIN = {"PDF", "ASQ", "C-SSRS", "TOTP", "Microsoft", "Authenticator", "Google", "PNG", "JPG", "JPEG", "KB", "MB"}
UTC_TIME = re.compile(r"\+00:00|\d{4}-\d\d-\d\dT\d\d:\d\d|\d\d:\d\d:\d\dZ|\bUTC\b")
PHONE, DESK = {"width": 390, "height": 844}, {"width": 1366, "height": 768}
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


class _Words(HTMLParser):
    """What a person reads: text outside script and style, and the attributes a browser shows."""

    SHOWN = ("placeholder", "title", "aria-label", "alt", "value")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.links: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style", "code"):  # code: a literal a person types (a file's header), not words
            self._hidden += 1
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        for name in self.SHOWN:
            if attrs.get(name) and not (name == "value" and (tag != "input" or attrs.get("type") not in
                                                               ("submit", "button"))):
                self.texts.append(attrs[name])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.texts.append(data.strip())


def problems(html: str) -> tuple[list[str], list[str]]:
    """(what on the page is English or UTC, the page's links)."""
    reader = _Words()
    reader.feed(html)
    found = []
    for text in reader.texts:
        if UTC_TIME.search(text):
            found.append(f"UTC time: {text[:120]}")
        if re.search(r"\d\.\d{3,}|(?<![\d.])0分(?!钟)|\d+(\.\d+)?h\b", text):
            found.append(f"a duration no one reads: {text[:120]}")
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z_-]{2,}", text) if w not in LATIN]
        if words and not CJK.search(text):
            found.append(f"not Chinese: {text[:120]}")
        elif re.search(r"\b[a-z]+_[a-z_]+\b", text):
            found.append(f"internal code: {text[:120]}")
    return found, reader.links


async def _cases(stack) -> dict[str, str]:
    """A case in each kind of state: just reported, refused and reported to the authority, closed."""
    body = {**open_body(), "student": {**open_body()["student"], "class_id": "8-3"}}
    new = (await open_case(stack, body))["case_id"]
    refused = (await open_case(stack, body))["case_id"]
    for action in ("assess", "guardian_notice", "intervene", "refer"):
        await step(stack, refused, action)
    await step(stack, refused, "guardian_response", REFUSE)
    closed = (await open_case(stack, body))["case_id"]
    await step(stack, closed, "assess", ASSESS_LOW)
    await step(stack, closed, "close", CLOSE)
    return {"new": new, "refused": refused, "closed": closed}


async def test_every_page_a_role_can_reach_speaks_chinese_in_beijing_time(sqlite_stack):
    stack = sqlite_stack
    load_people(stack.engine)
    cases = await _cases(stack)
    assert (await act(stack, cases["refused"], "contact")).status_code == 200
    base, seen, found = site(stack), set(), []
    for staff_id in ("p-chen", "t-zhang", "g-wang", "l-sun", "s-wu", "e-liu"):
        http = await sign_in(base, staff_id, give_sign_in(stack.engine, stack.settings, staff_id))
        todo = ["/ui", *(f"/ui/cases/{c}" for c in cases.values())]
        if staff_id in ("p-chen", "l-sun"):  # every form, offered now or not (then it says why, and what is)
            todo += [f"/ui/cases/{cases['refused']}/act/{a.value}" for a in COMMANDS]
        walked = set()
        while todo:
            path = todo.pop()
            if path in walked or len(walked) > 80:
                continue
            walked.add(path)
            answer = await http.get(path)
            if answer.headers.get("content-type", "").startswith("text/html"):
                wrong, links = problems(answer.text)
                found += [f"{staff_id} {path}: {w}" for w in wrong]
                todo += [link for link in links if link.startswith("/ui") and "/documents/" not in link
                         and "/signed/" not in link and urlsplit(link).path not in ("/ui/logout",)]
                # every form on a case page sent empty, then as it stands (a refusal, if any)
                if re.fullmatch(r"/ui/cases/[0-9a-f]{32}/act/[a-z_]+", path):
                    sent = await http.post(path, data={"csrf": csrf_of(answer.text), "key": f"walk-{len(seen)}"})
                    wrong, _ = problems(sent.text)
                    found += [f"{staff_id} POST {path} ({sent.status_code}): {w}" for w in wrong]
                    # (confirming the prepared report asks nothing more: its note is optional, and it goes)
                    sendable = path.endswith("/act/send_report") and sent.status_code == 303
                    assert sent.status_code in (400, 403, 409, 422) or sendable, (path, sent.status_code)
        if staff_id == "p-chen":  # a whole form for an action the closed case no longer takes: refused, in words
            path = f"/ui/cases/{cases['closed']}/act/contact"
            sent = await http.post(path, data={"csrf": csrf_of((await http.get(path)).text), "key": "walk-closed",
                                               "with_whom": "guardian", "at": "2026-12-05T09:00",
                                               "channel": "phone", "notes": "电话回访"})
            assert sent.status_code == 409 and "未能办理“咨询与联系”" in sent.text
            found += [f"{staff_id} POST {path}: {w}" for w in problems(sent.text)[0]]
        seen |= {f"{staff_id} {p}" for p in walked}
        await http.aclose()
    assert not found, "\n".join(found)
    assert len(seen) > 80
    # the authority reads its report; the staff reporter reads only the state of what they reported
    assert any(s.startswith("e-liu /ui/reports") for s in seen) and any(s.startswith("s-wu /ui/cases/") for s in seen)


def _pattern(path: str) -> str:
    """A page's kind: its path with the case's id and the student's number taken out."""
    return re.sub(r"/students/[^/?#]+", "/students/*", re.sub(r"[0-9a-f]{32}", "*", path)).split("#")[0]


async def test_every_kind_of_page_passes_axe_on_phone_and_desk_and_reads_at_double_text(sqlite_stack, browser,
                                                                                         tmp_path):
    """axe-core (WCAG 2.1 A and AA) finds nothing serious or critical on any kind of page a role reaches, on a
    390 px phone and a 1366 px desk; and at 200 % text on the phone nothing is wider than the screen."""
    stack = sqlite_stack
    load_people(stack.engine)
    cases = await _cases(stack)
    base, found, kinds = site(stack), [], set()
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{base}/ui/login")
    found += [f"/ui/login: {v}" for v in await a11y.violations(page)]
    for staff_id in ("p-chen", "l-sun", "t-zhang", "s-wu", "e-liu"):
        await context.clear_cookies()
        await page.set_viewport_size(PHONE)
        await browser_sign_in(page, base, staff_id, give_sign_in(stack.engine, stack.settings, staff_id))
        for device, viewport in (("phone", PHONE), ("desk", DESK)):
            await page.set_viewport_size(viewport)
            todo = ["/ui", *(f"/ui/cases/{c}" for c in cases.values())]
            if staff_id == "p-chen":
                todo += [f"/ui/cases/{cases['refused']}/act/{a.value}" for a in COMMANDS]
            while todo:
                path = todo.pop(0)
                # each role's own view of a page; a form once
                kind = f"{device} " + (_pattern(path) if "/act/" in path else f"{staff_id} {_pattern(path)}")
                if kind in kinds:
                    continue
                kinds.add(kind)
                await page.goto(base + path)
                found += [f"{device} {staff_id} {path}: {v}" for v in await a11y.violations(page)]
                if device == "phone":
                    if staff_id == "l-sun" and path in ("/ui/cases", "/ui/overdue"):  # lists as cards on a phone
                        shot = _shots(tmp_path) / f"staff-{path.rsplit('/', 1)[1]}-cards-phone.png"
                        await page.screenshot(path=str(shot), full_page=True)
                    found += [f"{staff_id} {path}: wider than the phone at 200 % text: {w}"
                              for w in await a11y.overflows_at_double_text(page)]
                links = await page.eval_on_selector_all("a[href^='/ui']",
                                                        "links => links.map(a => a.getAttribute('href'))")
                # a PDF (a document, a receipt, the help poster) is no page
                todo += [link for link in links if "/documents/" not in link and "/signed/" not in link
                         and not link.endswith("/poster")]
    await context.close()
    assert not found, "\n".join(found)
    assert len(kinds) > 80, sorted(kinds)
