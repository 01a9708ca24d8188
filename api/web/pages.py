"""The staff app's pages: my tasks, cases, every action as a form, documents, and the supervisors'
dashboard, lists and overdue list.

A page reads what the API reads, and a form does what the API does: an action and a new case go
through the door (``door.Door``: the workflow's update, its validator, the read model after it).
So a refusal here is the door's same domain error the API answers 409 for, worded in Chinese
(``api/web/words.py``) with what is allowed now, and what the person typed is shown again, never lost.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

import structlog
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from activities import documents
from activities.case_activities import typesetter_for
from api.access import RECEIPT_WRITERS, WATCH_REVIEWERS, sees_identity
from api.auth import Principal
from api.routes.receipts import keep_copy
from api.routes.screenings import record_for
from api.web import accounts, charts, forms, record, words
from api.web.gate import case_in_reach, check_csrf, page_gate, student_label, viewer
from api.web.guardian import link_panel
from api.web.render import BEIJING, PageError, page, span
from db import directory, help_requests, store, tasks
from db.dashboard import dashboard, in_reach
from intake.importer import BAND_ZH, INSTRUMENT_ZH, OUTCOME_ZH
from models.case import COMMANDS, ActionCommand, CaseData, OpenCaseBody, case_ref
from models.domain import (
    AUTHORITY_READS,
    SYSTEM,
    Action,
    CaseState,
    DocumentKind,
    Obligation,
    Recipient,
    RiskLevel,
    StaffRole,
)
from models.errors import Forbidden, Invalid, Refused
from models.help import HELP_WHO, HelpResolve
from models.watch import WATCH_REASON_ZH, WatchReview, WatchReviewBody
from paper import scans
from paper.facts import TITLES
from paper.typeset import TypesetFailed
from paper.words import Lang, word
from workflows.deadlines import LADDER, told_from
from workflows.help_workflow import HELPERS
from workflows.machine import RULES, CaseMachine, roles_for, rule_for
from workflows.view import case_view

#: A stored document or copy that is missing or fails its seal or its SHA-256, as the staff app says it.
DAMAGED_ZH = "这份文书的存档文件缺失或未通过完整性校验，请联系系统管理员。"
log = structlog.get_logger(__name__)

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Depends(page_gate)])



# ------------------------------------------------------------------ sign-in notice


@router.get("/signin-notice", response_class=HTMLResponse)
async def signin_notice(request: Request, next: str = "/ui"):
    """Told once, on the first page after signing in: the wrong TOTP codes tried since the last sign-in."""
    principal = viewer(request, "view the sign-in notice")
    count, last = accounts.untold_code_failures(request.app.state.engine, principal.staff_id)
    target = next if next.startswith("/ui") and "\\" not in next and not next.startswith("//") else "/ui"
    if not count:
        return RedirectResponse(target, status_code=303)
    return page(request, "signin_notice.html", count=count, next=target,
                last=last.astimezone(BEIJING).strftime("%Y年%m月%d日 %H:%M"))


# ------------------------------------------------------------------ my tasks


@router.get("", response_class=HTMLResponse)
async def my_tasks(request: Request):
    principal = viewer(request, "view my tasks")
    if principal.role is StaffRole.edu_authority:
        return RedirectResponse("/ui/reports", status_code=303)
    engine, now = request.app.state.engine, datetime.now(UTC)
    if principal.role is StaffRole.staff:
        return _reported(request, principal)
    classes = directory.visible_classes(engine, principal.staff_id, principal.role)
    # a role's own duties: the obligations whose owner (OBLIGATIONS, a Recipient) is the role
    mine = tasks.tasks_for(engine, principal.school_id, principal.staff_id, {principal.role.value},
                           told_from(principal.role.value), classes, now)
    waiting = (tasks.closures_waiting(engine, principal.school_id, principal.staff_id)
               if principal.role in roles_for(Action.closure_decision) else [])
    returned = (tasks.closures_returned(engine, principal.school_id, principal.staff_id)
                if principal.role in roles_for(Action.close) else [])
    watched = store.list_cases(engine, school_id=principal.school_id, now=now, classes=classes,
                               me=principal.staff_id, limit=20, open_only=True, soonest_due=True)
    ids = [t.case_id for t in mine] + [w.case_id for w in waiting + returned] + [c.case_id for c in watched.items]
    names = store.student_names(engine, ids) if sees_identity(principal) else {}
    # a task opens the form that meets it, for a person who may submit that form; else (a 督办 task the
    # ladder brought to someone of another role) the case
    links = {o: a for o in Obligation if (a := _task_action(o, principal.role))}
    deciders = directory.names(engine, {r.returned_by for r in returned})
    helps = help_requests.listing(engine, principal.school_id, open_only=True) if principal.role in HELPERS else []
    return page(request, "tasks.html", tasks=mine, waiting=waiting, returned=returned, deciders=deciders, helps=helps,
                watched=watched, names=names, links=links, overdue=sum(t.overdue for t in mine))


def _reported(request: Request, principal: Principal):
    """A reporter's start page: the cases they reported, by state only, and a way to report another."""
    engine = request.app.state.engine
    listing = store.list_cases(engine, school_id=principal.school_id, now=datetime.now(UTC), classes=set(),
                               me=principal.staff_id, limit=100)
    listing.items = [item.for_reporter() for item in listing.items]
    return page(request, "reported.html", listing=listing)


def _task_action(obligation: Obligation, role: StaffRole) -> str | None:
    """The first action that meets the obligation and that this role takes (a refusal report: the leader's
    confirmation, not a guardian's later consent)."""
    return next((a.value for a in forms.actions_meeting(obligation) if role in roles_for(a)), None)


# ------------------------------------------------------------------ the watch list


@router.get("/watchlist", response_class=HTMLResponse)
async def watch_page(request: Request, done: Annotated[str, Query(max_length=16)] = "",
                     class_id: Annotated[str, Query(max_length=64)] = ""):
    principal = viewer(request, "read the watch list")
    return _watch_page(request, principal, {}, done == "review", class_id=class_id)


def _watch_page(request: Request, principal: Principal, errors: dict, done: bool = False, status_code: int = 200,
                class_id: str = ""):
    """The watch list of the school, or of one class (``class_id``: one of the person's classes), with how
    many students each class has on it."""
    engine, now = request.app.state.engine, datetime.now(UTC)
    classes = directory.visible_classes(engine, principal.staff_id, principal.role)
    choices = _classes_for(request, principal)
    chosen = class_id if class_id in {c.id for c in choices} else ""
    everyone = store.watchlist(engine, principal.school_id, classes, now, names=sees_identity(principal))
    per_class: dict[str, int] = {}
    for entry in everyone:
        per_class[f"{entry.grade} {entry.class_name}"] = per_class.get(f"{entry.grade} {entry.class_name}", 0) + 1
    entries = (store.watchlist(engine, principal.school_id, {chosen}, now, names=sees_identity(principal))
               if chosen else everyone)
    owners = directory.names(engine, {e.owner for e in entries if e.owner})
    return page(request, "watchlist.html", status_code=status_code, entries=entries, owners=owners,
                reasons=WATCH_REASON_ZH, errors=errors, done=done, may_review=principal.role in WATCH_REVIEWERS,
                classes=choices, chosen=chosen, per_class=per_class)


@router.post("/watchlist/{watch_id}/review", response_class=HTMLResponse)
async def watch_review(request: Request, watch_id: str):
    principal = viewer(request, "review a watch-listed student")
    form = await request.form()
    check_csrf(request, form)
    try:
        body = WatchReviewBody.model_validate({"observations": (form.get("observations") or "").strip(),
                                               "decision": form.get("decision") or ""})
    except ValidationError as exc:
        return _watch_page(request, principal, {watch_id: "；".join(forms.errors_of(exc).values())},
                           status_code=400)
    try:
        await request.app.state.door.review_watch(watch_id, WatchReview(actor=principal.actor(), body=body))
    except Refused:
        return _watch_page(request, principal, {watch_id: "这位学生已不在重点关注名单上。"}, status_code=409)
    return RedirectResponse("/ui/watchlist?done=review", status_code=303)


# ------------------------------------------------------------------ cases


#: the case list's orders, in words (the first is the default: the most urgent first)
ORDERS = {"urgency": "按紧迫程度（逾期和临近期限的在前）", "opened": "按识别时间（最新的在前）",
          "risk": "按风险等级（高的在前）"}
#: the most cases a search reads to match a name (names are sealed: matched after decrypting)
SEARCH_READS = 10_000


@router.get("/cases", response_class=HTMLResponse)
async def case_list(
    request: Request,
    state: Annotated[str, Query(max_length=32)] = "",
    risk_level: Annotated[str, Query(max_length=32)] = "",
    overdue: bool = False,
    q: Annotated[str, Query(max_length=64)] = "",
    order: Annotated[str, Query(max_length=16)] = "urgency",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    principal = viewer(request, "list cases")
    if principal.role is StaffRole.staff:
        return RedirectResponse("/ui", status_code=303)
    engine, now = request.app.state.engine, datetime.now(UTC)
    state_code = state if state in CaseState.__members__ else None  # "all", or no code: no filter
    risk_code = risk_level if risk_level in RiskLevel.__members__ else None
    order = order if order in ORDERS else "urgency"
    identity, q = sees_identity(principal), q.strip()
    scope = dict(school_id=principal.school_id, now=now, state=state_code, risk_level=risk_code,
                 overdue=True if overdue else None, me=principal.staff_id,
                 classes=directory.visible_classes(engine, principal.staff_id, principal.role))
    hits = None
    if q:  # the student's number, or (for roles that see names) a part of the name
        reach = store.list_cases(engine, **scope, limit=SEARCH_READS)
        sealed = store.student_names(engine, [c.case_id for c in reach.items]) if identity else {}
        hits = [c.case_id for c in reach.items if q in c.student_ref or q in sealed.get(c.case_id, "")]
    listing = store.list_cases(engine, **scope, order=order, case_ids=hits, limit=50, offset=offset)
    names = store.student_names(engine, [c.case_id for c in listing.items]) if identity else {}
    query = {"state": state_code or "", "risk_level": risk_code or "", "overdue": "true" if overdue else "",
             "q": q, "order": order}
    return page(request, "cases.html", listing=listing, names=names, states=list(CaseState), risks=list(RiskLevel),
                chosen={"state": state_code, "risk": risk_code, "overdue": overdue, "q": q, "order": order},
                orders=ORDERS, identity=identity, query=urlencode({k: v for k, v in query.items() if v}))


def _classes_for(request: Request, principal: Principal) -> list:
    engine = request.app.state.engine
    found = directory.of_school(engine, principal.school_id).schools
    classes = found[0].classes if found else []
    # a reporter may report any student of the school
    visible = None if principal.role is StaffRole.staff else directory.visible_classes(engine, principal.staff_id,
                                                                                        principal.role)
    return [c for c in classes if visible is None or c.id in visible]


@router.get("/cases/new", response_class=HTMLResponse)
async def new_case_form(request: Request, help: Annotated[str, Query(max_length=64)] = ""):  # noqa: A002
    principal = viewer(request, "open a case: form")
    values = _from_help(request, principal, help) if help else {}
    return page(request, "case_new.html", classes=_classes_for(request, principal), values=values, errors={},
                key=uuid.uuid4().hex, factors=forms.RISK_FACTORS, signals=forms.WARNING_SIGNALS, refusal=None,
                fresh=True, text_limit=forms.limit(OpenCaseBody, "summary"))


@router.post("/cases/new", response_class=HTMLResponse)
async def new_case(request: Request):
    principal = viewer(request, "open a case")
    form = await request.form()
    check_csrf(request, form)
    classes = _classes_for(request, principal)
    body = forms.open_case_from(form, principal.school_id, {c.id: (c.grade, c.name) for c in classes})
    key = (form.get("key") or uuid.uuid4().hex)[:64]

    def again(status: int, errors: dict, refusal: str | None = None):
        values = {**form, "risk_factors": form.getlist("risk_factors"),
                  "warning_signals": form.getlist("warning_signals")}
        return page(request, "case_new.html", status_code=status, classes=classes, values=values, errors=errors,
                    key=key, factors=forms.RISK_FACTORS, signals=forms.WARNING_SIGNALS, refusal=refusal,
                    text_limit=forms.limit(OpenCaseBody, "summary"))

    if classes and form.get("class_id") not in {c.id for c in classes}:
        return again(400, {"student.class_id": "请从名录中选择学生所在班级"})
    try:
        parsed = OpenCaseBody.model_validate(body)
    except ValidationError as exc:
        return again(400, forms.errors_of(exc))
    try:
        view, replayed = await request.app.state.door.open_case(parsed, principal.actor(), f"form-{key}")
    except Invalid as error:
        return again(422, {"form" if error.where == "header" else error.field: words.invalid_words(error)})
    except Forbidden as error:
        return again(403, {}, refusal=words.forbidden_words(error))
    request.state.access.case_id = view.case_id
    if form.get("help") and not replayed:
        await _resolve_help(request, principal, str(form.get("help")), view.case_id)
    return RedirectResponse(f"/ui/cases/{view.case_id}?done=open{'&again=true' if replayed else ''}", status_code=303)


def _from_help(request: Request, principal: Principal, help_id: str) -> dict:
    """A new case's form, filled from a help request its handler opens it from: the asker's words carried over
    into the summary, and the request, so that opening the case resolves it."""
    row = help_requests.get(request.app.state.engine, help_id)
    if (principal.role not in HELPERS or row is None or row.school_id != principal.school_id
            or row.state not in ("open", "looked")):
        raise PageError(404, "没有这条待处理的求助。")
    asked = row.asked
    who = HELP_WHO.get(asked.get("who"), "") + (f"：{asked['name']}" if asked.get("name") else "")
    where = f"，班级：{asked['class_name']}" if asked.get("class_name") else ""
    head = f"（来自求助 {case_ref(row.help_id)}，{who}，联系方式：{asked.get('contact', '')}{where}）"
    return {"summary": f"{head}\n{asked.get('text', '')}", "help": row.help_id}


async def _resolve_help(request: Request, principal: Principal, help_id: str, case_id: str) -> None:
    """The help request a case was opened from is resolved by it (a request resolved meanwhile stays as it is)."""
    try:
        await request.app.state.door.resolve_help(
            help_id[:64], HelpResolve(actor=principal.actor(), outcome="case_opened", case_id=case_id))
    except (Refused, Forbidden, Invalid):
        log.warning("help request not resolved by its case", case_id=case_id)


def _told_after(data: CaseData, principal: Principal, done: str, again: bool) -> int | None:
    """The event a confirmation is about: this person's latest of the action just taken (None for a repeat)."""
    action = Action.close.value if done == "proposed" else done
    if again or action not in Action.__members__:
        return None
    return next((e.seq for e in reversed(data.events) if e.action == action and e.actor == principal.staff_id), None)


def _done_words(done: str, again: bool) -> str | None:
    """The confirmation a case page opens with after a form was taken (``done``: the action, ``proposed``
    for a closure that waits for leadership, ``signed`` for a receipt); ``again`` when the same form had
    already been taken (Back, then submit) and nothing was recorded a second time."""
    if done == "signed":
        return "已上传签收回执"
    if done == "reminded":
        return "已催办：事项的责任人会收到提醒"
    if done == "reminded_again":
        return "这一事项本小时内已催办过，未重复发送"
    if done == "link-sms":
        return "已安排短信发送答复链接（不含答复码）：请另行把答复码告诉监护人"
    if done == "link-revoked":
        return "已停用答复链接"
    if done.startswith("remade-") and done.removeprefix("remade-") in DocumentKind.__members__:
        return f"已重新生成《{TITLES[Lang.zh][DocumentKind(done.removeprefix('remade-'))]}》"
    if done == "proposed":
        words_ = "已提出结案申请，待领导审批"
    elif done in Action.__members__:
        words_ = f"已办理：{word(Lang.zh, 'action', done)}"
    else:
        return None
    return f"这份表单此前已提交，未重复记录（{words_}）" if again else words_


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str, done: Annotated[str, Query(max_length=32)] = "",
                    again: bool = False):
    principal = viewer(request, "view a case page", case_id)
    data = case_in_reach(request, principal, case_id)
    engine, now = request.app.state.engine, datetime.now(UTC)
    if principal.role is StaffRole.staff:  # what they reported and where it stands
        school = directory.school(engine, data.school_id)
        return page(request, "reported_case.html", view=case_view(data, now).for_reporter(),
                    hotlines=school.hotlines if school else [], done=done == Action.open.value)
    identity = sees_identity(principal)
    view = case_view(data, now)
    remade = store.existing_documents(engine, [f.effect_id for f in view.failed_effects if f.effect == "document"])
    view = view.model_copy(update={"failed_effects": [f for f in view.failed_effects if f.effect_id not in remade]})
    # a document that failed, for those who may make it again (leadership, the owner): its kind
    may_remake = request.app.state.door.may_remake(data, principal.actor())
    remakable = {f.effect_id: k.value for f in view.failed_effects if f.effect == "document" and may_remake
                 for k in DocumentKind if f.effect_id.startswith(f"{case_id}-{k.value}-")}
    documents = store.documents_for(engine, case_id) if identity else []
    copies = {d.document_id: store.signed_copies(engine, d.document_id) for d in documents}
    events = data.events  # the read model holds every event, with its details
    named = {e.detail.get(k) for e in events for k in ("owner", "former_owner") if isinstance(e.detail.get(k), str)}
    people = directory.names(engine, {e.actor for e in events} | named | {data.owner or "", data.opened_by.staff_id})
    offers = forms.offered(data, principal.role, principal.staff_id, now)
    return page(request, "case.html", data=data, view=view, identity=identity, student=student_label(principal, data),
                primary=forms.most_due(data, offers), documents=documents,
                remindable={d.obligation for d in request.app.state.door.may_remind(data, principal.role, now)},
                remakable=remakable,
                copies=copies, events=events, people=people,
                offers=offers,
                record=record.topics(data, people) if identity else [], returned=record.returned_closure(data),
                done=_done_words(done, again), taken=_form_path(case_id, done),
                told_after=_told_after(data, principal, done, again),
                may_upload=principal.role in RECEIPT_WRITERS, max_upload=request.app.state.settings.max_upload_bytes,
                online=link_panel(request, data, principal.role.value) if identity else None)


#: how often a confirmation asks again who was told, before it stops asking (the notices of a step are
#: written with the step, the workflow's own next step, such as the report of a refusal, a moment later)
TOLD_TRIES = 8


@router.get("/cases/{case_id}/told", response_class=HTMLResponse)
async def told(request: Request, case_id: str, after: Annotated[int, Query(ge=1, le=1_000_000)],
               tries: Annotated[int, Query(ge=0, le=TOLD_TRIES)] = 0):
    """What a confirmation adds once it is known (htmx): who was told of the action (event ``after``) and of
    the workflow's own steps that followed it, the authority a refusal was reported to, and the next deadline."""
    principal = viewer(request, "view a case page", case_id)
    data = case_in_reach(request, principal, case_id)
    engine = request.app.state.engine
    steps = [e.seq for e in data.events if e.seq == after]
    for event in data.events:  # the workflow's own steps right after the action (a refusal's report)
        if steps and event.seq == steps[-1] + 1 and event.actor == SYSTEM:
            steps.append(event.seq)
    notices = [n for n in store.notifications_for(engine, case_id)
               if any(n.notification_id.startswith(f"{case_id}-{seq}-") for seq in steps)]
    people = directory.names(engine, {s for n in notices for s in n.recipient_staff})
    told_people, reported = [], []
    for n in notices:
        if n.recipient_role in (Recipient.education_authority, Recipient.provincial_authority):
            level = "local" if n.recipient_role is Recipient.education_authority else "province"
            reported += [a.name for a in directory.authorities_of(engine, data.school_id) if a.level == level]
        else:
            told_people += [people[s] for s in n.recipient_staff if s in people] or [
                word(Lang.zh, "role", r.value) for r in n.recipient_roles]
    due = sorted((d for d in data.deadlines if d.met_at is None), key=lambda d: d.due_at)
    taken = next((e for e in data.events if e.seq == after), None)
    # the table's row for what was taken names the workflow's own step that follows it (then): until that
    # step is in the case, there is more to say
    # (a step the case's facts hold back, such as a report a leader confirms, is not due)
    facts = CaseMachine.of(data).facts
    step_due = taken is not None and len(steps) == 1 and any(
        r.then is not None and r.action == taken.action and r.dest == taken.to_state
        and all(facts.holds(c) for c in rule_for(r.then, data.features).guard) for r in RULES)
    waiting = (not notices or step_due) and tries < TOLD_TRIES
    return page(request, "_told.html", case_id=case_id, after=after, tries=tries + 1, waiting=waiting,
                told=list(dict.fromkeys(told_people)), reported=list(dict.fromkeys(reported)),
                automatic=len(steps) > 1,
                next_due=due[0] if due and data.state is not CaseState.closed else None)


async def _case_form(request: Request, what: str, case_id: str):
    """A form posted about a case: who posts it (allowed ``what``, the case in their reach) and the form, its
    CSRF token checked."""
    principal = viewer(request, what, case_id)
    case_in_reach(request, principal, case_id)
    form = await request.form()
    check_csrf(request, form)
    return principal, form


@router.post("/cases/{case_id}/remake/{kind}", response_class=HTMLResponse)
async def remake(request: Request, case_id: str, kind: str):
    """A document that failed for good, made again once its cause is mended (the door decides who may:
    leadership, or the case's owner)."""
    principal, form = await _case_form(request, "make a failed document again", case_id)
    if kind not in DocumentKind.__members__:
        raise PageError(404, "没有这种文书。")
    try:
        await request.app.state.door.remake(case_id, DocumentKind(kind), principal.actor())
    except Forbidden:
        raise PageError(403, "只有心理危机干预领导小组成员和个案的负责心理教师可以重新生成文书。") from None
    except Refused as refused:  # its words are Chinese: why it failed again, or that nothing failed
        raise PageError(409, f"{refused}。") from None
    return RedirectResponse(f"/ui/cases/{case_id}?done=remade-{kind}", status_code=303)


@router.post("/cases/{case_id}/guardian-link/sms", response_class=HTMLResponse)
async def send_link_sms(request: Request, case_id: str):
    """The guardian's answer link, by SMS to the number the head teacher gives (kept sealed on the case)."""
    principal, form = await _case_form(request, "send the guardian's answer link by SMS", case_id)
    phone = str(form.get("phone", "")).strip().replace(" ", "").replace("-", "")
    try:
        await request.app.state.door.send_link_sms(case_id, phone, principal.actor())
    except Invalid:
        raise PageError(422, "手机号不正确：请填写 11 位手机号码，如 13812345678。") from None
    except Refused:
        raise PageError(409, "没有有效的答复链接，或学校未配置短信通道：无法发送。") from None
    return RedirectResponse(f"/ui/cases/{case_id}?done=link-sms#guardian-link", status_code=303)


@router.post("/cases/{case_id}/guardian-link/revoke", response_class=HTMLResponse)
async def revoke_link(request: Request, case_id: str):
    """Leadership ends the case's answer link (a lost notice, a wrong address)."""
    principal, form = await _case_form(request, "revoke the guardian's answer link", case_id)
    try:
        request.app.state.door.revoke_link(case_id, principal.actor())
    except Forbidden:
        raise PageError(403, "只有心理危机干预领导小组成员可以停用答复链接。") from None
    return RedirectResponse(f"/ui/cases/{case_id}?done=link-revoked#guardian-link", status_code=303)


@router.post("/cases/{case_id}/remind/{obligation}", response_class=HTMLResponse)
async def remind(request: Request, case_id: str, obligation: str):
    """催办: remind an overdue duty's owner (the door decides who may, and sends at most one an hour)."""
    principal = viewer(request, "remind a duty's owner", case_id)
    case_in_reach(request, principal, case_id)
    form = await request.form()
    check_csrf(request, form)
    if obligation not in Obligation.__members__:
        raise PageError(404, "没有这个事项。")
    try:
        sent = await request.app.state.door.remind(case_id, Obligation(obligation), principal.actor())
    except Refused:
        raise PageError(409, "这一事项已完成，或尚未逾期到由您督办的程度：无需催办。") from None
    return RedirectResponse(f"/ui/cases/{case_id}?done={'reminded' if sent else 'reminded_again'}#deadlines",
                            status_code=303)


def _form_path(case_id: str, done: str) -> str | None:
    """The form a confirmation follows (its draft in the browser is then no longer needed)."""
    if done == Action.open.value:
        return "/ui/cases/new"
    if done == "proposed":
        return f"/ui/cases/{case_id}/act/{Action.close.value}"
    return f"/ui/cases/{case_id}/act/{done}" if done in Action.__members__ else None


# ------------------------------------------------------------------ actions


def _form_context(request: Request, data: CaseData, action: Action, form=None) -> dict:
    context = {"action": action, "title": word(Lang.zh, "action", action.value),
               "text_limit": forms.limit(COMMANDS[Action.review], "observations")}
    if action is Action.assess:
        risk, errors = forms.preview_risk(form or {"instrument": "cssrs"})
        context.update(questions=forms.QUESTIONS, risks=list(RiskLevel), risk=risk, waiting=forms.still_needed(errors))
    else:
        model = COMMANDS[action]
        context["fields"] = [(f, forms.choices(f, model), forms.limit(model, f.name)) for f in forms.FORMS[action]]
        if action is Action.reassign:  # the school's psychology teachers in the directory, but the owner now
            engine = request.app.state.engine
            people = [p for role in (StaffRole.psychology_teacher, StaffRole.expert)
                      for p in directory.people_for(engine, data.school_id, role.value, None)]
            names = directory.names(engine, set(people))
            context["fields"] = [(f, [(p, names[p]) for p in dict.fromkeys(people) if p != data.owner and p in names]
                                  if f.name == "owner" else c, most) for f, c, most in context["fields"]]
        if action is Action.close:
            context["unmet"] = forms.unmet_at_close(data)
        if action is Action.closure_decision and data.closure_proposal is not None:
            proposal = data.closure_proposal
            context["proposal"] = proposal
            context["proposer"] = record.person(directory.names(request.app.state.engine, {proposal.by}), proposal.by)
    return context


def _offer(data: CaseData, principal: Principal, action_name: str) -> Action:
    if action_name not in Action.__members__ or Action(action_name) not in COMMANDS:
        raise PageError(404, "没有这个操作。")
    return Action(action_name)


@router.get("/cases/{case_id}/act/{action_name}", response_class=HTMLResponse)
async def action_form(request: Request, case_id: str, action_name: str):
    principal = viewer(request, f"{action_name.replace('_', ' ')[:40]}: form", case_id)
    data = case_in_reach(request, principal, case_id)
    action = _offer(data, principal, action_name)
    allowed = {o.action for o in forms.offered(data, principal.role, principal.staff_id, datetime.now(UTC))}
    refusal = None if action in allowed else _not_now(data, principal, action)
    values = forms.defaults(action, datetime.now(UTC))
    if action is Action.plan and sees_identity(principal):  # a revision starts from the plan in force
        values.update(record.current_plan(data))
    return page(request, "action.html", data=data, student=student_label(principal, data),
                values=values, errors={}, refusal=refusal, key=uuid.uuid4().hex,
                fresh=True, **_form_context(request, data, action))


def _not_now(data: CaseData, principal: Principal, action: Action) -> str:
    """Why this person cannot take the action now, in words, with what they can do instead."""
    now_allowed = [o.label for o in forms.offered(data, principal.role, principal.staff_id, datetime.now(UTC))]
    return words.not_now_words(data.state, principal.role, action, now_allowed)


@router.post("/cases/{case_id}/act/{action_name}", response_class=HTMLResponse)
async def take(request: Request, case_id: str, action_name: str):
    principal = viewer(request, f"{action_name.replace('_', ' ')[:40]}: form", case_id)
    data = case_in_reach(request, principal, case_id)
    action = _offer(data, principal, action_name)
    form = await request.form()
    check_csrf(request, form)
    key = (form.get("key") or uuid.uuid4().hex)[:64]

    def again(status: int, errors: dict, refusal: str | None = None):
        values = {k: form.get(k) for k in form}
        return page(request, "action.html", status_code=status, data=data, student=student_label(principal, data),
                    values=values, errors=errors, refusal=refusal, key=key,
                    **_form_context(request, data, action, form))

    command, errors = forms.validate(action, forms.body_from(action, form, data))
    if command is None:
        return again(400, errors)
    try:
        acted = await request.app.state.door.act(case_id, ActionCommand(actor=principal.actor(), body=command),
                                                 f"form-{key}")
    except Refused as error:
        return again(409, {}, refusal=words.refusal_words(error, action))
    except Invalid as error:
        return again(422, {"form" if error.where == "header" else error.field: words.invalid_words(error)})
    except Forbidden as error:
        return again(403, {}, refusal=words.forbidden_words(error))
    done = "proposed" if acted.proposed else action.value
    return RedirectResponse(f"/ui/cases/{case_id}?done={done}{'&again=true' if acted.replayed else ''}",
                            status_code=303)


@router.post("/cases/{case_id}/assessment/preview", response_class=HTMLResponse)
async def assessment_preview(request: Request, case_id: str):
    """The risk level the assessment would record, by the API's rules, as the form is filled in (htmx)."""
    principal = viewer(request, "preview an assessment", case_id)
    case_in_reach(request, principal, case_id)
    form = await request.form()
    check_csrf(request, form)
    risk, errors = forms.preview_risk(form)
    return page(request, "_risk.html", risk=risk, waiting=forms.still_needed(errors))


# ------------------------------------------------------------------ documents


@router.get("/documents/{document_id}")
async def document(request: Request, document_id: str,
                   lang: Annotated[Literal["zh-CN", "en"] | None, Query()] = None, download: bool = False):
    principal = viewer(request, "read a document")
    engine = request.app.state.engine
    row = store.get_document(engine, document_id[:160])
    if row is None:
        raise PageError(404, "找不到这份文书。")
    request.state.access.case_id = row.case_id
    if principal.role is StaffRole.edu_authority:
        if DocumentKind(row.kind) not in AUTHORITY_READS or row.school_id not in directory.authority_schools(
                engine, principal.school_id):
            raise PageError(404, "找不到这份文书。")
    elif row.case_id is None or not sees_identity(principal):
        raise PageError(404, "找不到这份文书。")
    else:
        case_in_reach(request, principal, row.case_id)
    language = lang or row.language
    try:
        found = await run_in_threadpool(documents.form, engine, typesetter_for(request.app.state.settings), row,
                                        "application/pdf", language)
    except documents.DocumentDamaged:
        raise PageError(500, DAMAGED_ZH) from None
    except TypesetFailed:
        raise PageError(500, "这份文书的所选语言版本无法生成，请联系系统管理员。") from None
    if found is None:
        raise PageError(404, "这份文书没有所选语言的版本。")
    data = found[0]
    store.mark_read(engine, principal.staff_id, row.document_id, datetime.now(UTC))
    ref = case_ref(row.case_id or row.document_id.removeprefix("incident-"))
    title = TITLES[Lang(language)][DocumentKind(row.kind)]
    return Response(data, media_type="application/pdf", headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": _named("attachment" if download else "inline", f"{title}-{ref}.pdf",
                                      f"{row.kind}-{ref}.pdf")})


def _named(disposition: str, name: str, ascii_name: str) -> str:
    """A Content-Disposition naming the file for what it is (``学生心理健康情况告知书-3F2A-9C1B.pdf``), with a
    plain name for a browser that cannot read the UTF-8 one."""
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@router.post("/cases/{case_id}/documents/{document_id}/signed", response_class=HTMLResponse)
async def upload_signed(request: Request, case_id: str, document_id: str,
                        file: Annotated[UploadFile, File()]):
    principal = viewer(request, "upload a signed paper", case_id)
    data = case_in_reach(request, principal, case_id)
    form = await request.form()
    check_csrf(request, form)
    engine, settings = request.app.state.engine, request.app.state.settings
    row = store.get_document(engine, document_id[:160])
    if row is None or row.case_id != data.case_id or row.kind != DocumentKind.guardian_notice.value:
        raise PageError(404, "找不到这份告知书。")
    content = await file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        raise PageError(413, f"文件太大：最多 {settings.max_upload_bytes // (1024 * 1024)} MB。")
    try:  # never kept as it came (paper/scans.py)
        content, media = await run_in_threadpool(scans.clean, content)
    except scans.ScanError as exc:
        raise PageError(415, f"{exc}。") from None
    keep_copy(engine, settings, case_id, document_id, content, media, principal.staff_id, None, datetime.now(UTC))
    return RedirectResponse(f"/ui/cases/{case_id}?done=signed#documents", status_code=303)


@router.get("/cases/{case_id}/documents/{document_id}/signed/{copy_id}")
async def signed_copy(request: Request, case_id: str, document_id: str, copy_id: str):
    """A signed receipt as uploaded (kept as its look alone: paper/scans.py), for the roles that see who
    the student is; a download named for what it is."""
    principal = viewer(request, "read a signed receipt", case_id)
    data = case_in_reach(request, principal, case_id)
    engine = request.app.state.engine
    row = store.get_signed_copy(engine, copy_id[:64])
    document = store.get_document(engine, document_id[:160])
    if row is None or document is None or row.document_id != document.document_id or row.case_id != data.case_id:
        raise PageError(404, "找不到这份签收回执。")
    try:
        content = documents.read_stored(engine, document, row.path, row.sha256,
                                        f"documents/{document_id}/signed/{copy_id}")
    except documents.DocumentDamaged:
        raise PageError(500, DAMAGED_ZH) from None
    extension = scans.EXTENSIONS.get(row.media_type, "bin")
    name = f"监护人签收回执-{case_ref(data.case_id)}.{extension}"
    return Response(content, media_type=row.media_type, headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": _named("attachment", name, f"receipt-{case_ref(data.case_id)}.{extension}")})


# ------------------------------------------------------------------ the student archive


@router.get("/students/{student_ref}", response_class=HTMLResponse)
async def student_page(request: Request, student_ref: str):
    """One student's record over the years (一生一策), for roles that may see who the student is."""
    principal = viewer(request, "read a student's archive")
    found = record_for(request.app.state.engine, principal, student_ref)
    if found is None:
        raise PageError(404, "本校没有这名学生的记录。")
    results, cases, name = found
    return page(request, "student.html", ref=student_ref, student_name=name, cases=cases, screenings=results,
                instruments=INSTRUMENT_ZH, bands=BAND_ZH, outcomes=OUTCOME_ZH)


# ------------------------------------------------------------------ supervisors


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(request: Request):
    principal = viewer(request)
    engine = request.app.state.engine
    board = in_reach(dashboard(engine, principal.school_id, datetime.now(UTC)), engine, principal.staff_id,
                     directory.visible_classes(engine, principal.staff_id, principal.role))
    policy = request.app.state.policy
    state_rows = [(word(Lang.zh, "state", s.value), board.by_state.get(s.value, 0), s.value) for s in CaseState]
    level_counts = {lvl: 0 for lvl in sorted(LADDER)}
    for item in board.overdue:
        level_counts[max(1, min(item.escalation_level, max(LADDER)))] += 1
    level_rows = [(f"{lvl}级预警", n, f"level-{lvl}") for lvl, n in level_counts.items()]
    a, i = board.identification_to_assessment, board.identification_to_intervention
    assess_limit = policy.assess_within_warning.total_seconds() / 3600
    intervene_limit = policy.intervene_within_high.total_seconds() / 3600
    time_rows = [
        ("评估 中位数", a.median_hours or 0, "ok" if (a.median_hours or 0) <= assess_limit else "late"),
        ("评估 90分位", a.p90_hours or 0, "ok" if (a.p90_hours or 0) <= assess_limit else "late"),
        ("干预 中位数", i.median_hours or 0, "ok" if (i.median_hours or 0) <= intervene_limit else "late"),
        ("干预 90分位", i.p90_hours or 0, "ok" if (i.p90_hours or 0) <= intervene_limit else "late"),
    ]
    return page(request, "dashboard.html", board=board, charts={
        "states": charts.bars("个案状态分布", state_rows),
        "levels": charts.bars("逾期事项（按预警级别）", level_rows),
        "times": charts.bars("识别至评估、至干预用时", time_rows, say=lambda h: span(h * 3600) if h else "暂无",
                             mark=assess_limit, mark_label=f"评估时限 {span(assess_limit * 3600)}"),
        "in_time": charts.share("高风险个案按时处置率", board.high_risk_handled_in_time.share,
                                board.high_risk_handled_in_time.target),
    }, assess_limit=assess_limit, intervene_limit=intervene_limit)


@router.get("/overdue", response_class=HTMLResponse)
async def overdue_page(request: Request):
    principal = viewer(request)
    engine = request.app.state.engine
    board = in_reach(dashboard(engine, principal.school_id, datetime.now(UTC)), engine, principal.staff_id,
                     directory.visible_classes(engine, principal.staff_id, principal.role))
    ids = [o.case_id for o in board.overdue]
    refs = store.student_refs(engine, ids)
    names = store.student_names(engine, ids) if sees_identity(principal) else {}
    return page(request, "overdue.html", board=board, refs=refs, names=names)


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request, school: Annotated[str, Query(max_length=64)] = "",
                       kind: Annotated[str, Query(max_length=32)] = "", unread: bool = False):
    """What the school has reported to the education authority; for the authority, its schools' reports:
    each with its school, case reference, kind and date, what this person has not opened marked 未读;
    filtered by school, kind and unread."""
    principal = viewer(request, "read reports to the authority")
    engine = request.app.state.engine
    schools = (directory.authority_schools(engine, principal.school_id)
               if principal.role is StaffRole.edu_authority else {principal.school_id})
    names = {s: (found.name if (found := directory.school(engine, s)) else s) for s in sorted(schools)}
    kinds = {k.value: TITLES[Lang.zh][k] for k in DocumentKind if k in AUTHORITY_READS}
    chosen = {"school": school if school in schools else "", "kind": kind if kind in kinds else "", "unread": unread}
    found = store.authority_reports(engine, {chosen["school"]} if chosen["school"] else schools,
                                    {chosen["kind"]} if chosen["kind"] else set(kinds))
    documents, school_of = [d for d, _ in found], {d.document_id: s for d, s in found}
    opened = store.read_by(engine, principal.staff_id, [d.document_id for d in documents])
    if unread:
        documents = [d for d in documents if d.document_id not in opened]
    refs = {d.document_id: (f"个案编号 {case_ref(d.case_id)}" if d.case_id else
                            f"事件编号 {case_ref(d.document_id.removeprefix('incident-'))}"
                            if d.document_id.startswith("incident-") else "全校汇总（不含学生信息）")
            for d in documents}
    return page(request, "reports.html", documents=documents, schools=names, kinds=kinds, chosen=chosen,
                opened=opened, refs=refs, school_of=school_of)
