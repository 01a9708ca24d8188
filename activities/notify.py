"""Notifications: the outbox rows first, one per (notification, person or group, channel), then each send.

A notification says who must act on which case by when, with a link. It never carries a
student's name, narrative or contact details, and names the case by its short reference.
Each outbox row has a stable id (a digest of the notification, the recipient and the channel):
a retried activity or a restarted worker finds the rows already sent and sends only the rest.
The sends of one notification run side by side, so one channel that is down holds up no other;
while any is failing the activity fails and Temporal retries it with backoff (only those rows).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import structlog
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from channels.config import ChannelsFile
from channels.mail import send_mail
from channels.robots import Refused, Retry, post, request_for
from db import directory, store
from db.tables import DeliveryRow, NotificationRow, StaffRow
from models.case import CaseData, NotificationRequest, case_ref
from models.domain import Recipient
from ops import metrics
from paper import messages
from paper.words import Lang, word

log = structlog.get_logger(__name__)
#: Client errors that a later attempt can get past (timeout, rate limit, conflict).
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
CHATS = ("wecom", "dingtalk", "feishu")
#: Notifications not about one case: an extreme event's, a watch-list entry's, a daily digest's.
NOT_CASES = ("incident-", "watch-", "digest-", "term-", "help-")
#: Roles a notice reaches through the case's class (the class's head teacher, the grade's grade head).
_CLASS_ROLES = frozenset({Recipient.head_teacher, Recipient.grade_head})
#: The threads that send one notification's deliveries side by side (shared by the activity threads).
_SENDERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="crisisflow-send")


def text_for(n: NotificationRequest, to: str, case: CaseData | None, names: dict[str, str],
             lang: Lang = Lang.zh) -> str:
    """The message (``paper/messages.py``) for ``to``: what happened, who did it, what to do, by when."""
    return messages.render(n, to, messages.facts_of(n, case, names, lang), lang)


def payload_for(n: NotificationRequest, people: list[str], link: str) -> dict:
    """The webhook body: no student data."""
    return {
        "notification_id": n.notification_id,
        "event": n.event.value,
        "case_id": n.case_id,
        "case_ref": case_ref(n.case_id),
        "school_id": n.school_id,
        "recipient_role": n.recipient_roles[0].value,
        "recipient_roles": [r.value for r in n.recipient_roles],
        "obligation": n.obligation.value if n.obligation else None,
        "due_at": n.due_at.isoformat() if n.due_at else None,
        "escalation_level": n.escalation_level,
        "recipient_staff": people,
        "link": link,
    }


def delivery_id(notification_id: str, recipient: str, channel: str) -> str:
    return hashlib.sha256(f"{notification_id}|{recipient}|{channel}".encode()).hexdigest()[:40]


def plan(n: NotificationRequest, people: list[StaffRow], channels: ChannelsFile, webhook: bool,
         now: datetime) -> list[DeliveryRow]:
    """The outbox rows: an e-mail to each person with an address, a message to each role's group
    robot on each chat platform the school has one on, and the webhook."""
    rows: list[tuple[str, str]] = []
    for person in people:
        if person.email and channels.of(person.school_id, n.school_id).email:
            rows.append((person.staff_id, "email"))
    school = channels.of(n.school_id)
    for platform in CHATS:
        chat = getattr(school, platform)
        for role in n.recipient_roles:
            if chat is not None and role in chat.robots:
                rows.append((f"group:{role.value}", platform))
    if webhook:
        rows.append(("webhook", "webhook"))
    return [DeliveryRow(delivery_id=delivery_id(n.notification_id, r, c), notification_id=n.notification_id,
                        case_id=n.case_id, school_id=n.school_id, recipient=r, channel=c, created_at=now)
            for r, c in rows]


class Outbox:
    """Sends one notification's unsent rows."""

    def __init__(self, engine: Engine, channels: ChannelsFile, webhook_url: str | None, public_url: str) -> None:
        self.engine, self.channels, self.webhook_url = engine, channels, webhook_url
        self.public_url = public_url.rstrip("/")

    def link(self, n: NotificationRequest) -> str:
        """Where the recipient acts: the case's page; an extreme event's, the watch list's."""
        if n.notification_id.startswith("incident-"):
            return f"{self.public_url}/ui/incidents/{n.case_id}"
        if n.notification_id.startswith("help-"):
            return f"{self.public_url}/ui/help/{n.case_id}"
        if n.notification_id.startswith("watch-"):
            return f"{self.public_url}/ui/watchlist"
        if n.notification_id.startswith("term-"):
            return f"{self.public_url}/ui/reports?kind=term_report"
        if n.notification_id.startswith("digest-"):
            return f"{self.public_url}/ui/cases"
        return f"{self.public_url}/ui/cases/{n.case_id}"

    def people(self, n: NotificationRequest, class_id: str | None) -> tuple[list[str], list[StaffRow]]:
        """Who the notification is for, by the directory: their ids, and those of them it lists.

        A person-recipient (the case's owner) is the person the notification names. A case without a
        class has no head teacher nor grade head of its own: what is theirs goes to the school's
        psychology teachers and leadership, never to every head teacher of the school."""
        ids: list[str] = []
        for role in n.recipient_roles:
            if role is Recipient.investigation_group:  # people, by name: the group's members
                ids += n.group
                continue
            if role.value in n.named:
                ids.append(n.named[role.value])
                continue
            roles = ((Recipient.psychology_teacher, Recipient.leadership)
                     if class_id is None and role in _CLASS_ROLES else (role,))
            ids += [p for r in roles for p in directory.people_for(self.engine, n.school_id, r.value, class_id)]
        ids = list(dict.fromkeys(ids))
        return ids, [p for p in (directory.person(self.engine, i) for i in ids) if p is not None]

    def language(self, school_id: str) -> Lang:
        """A school's messages are in the language of its paper (the directory's; zh-CN without one)."""
        school = directory.school(self.engine, school_id)
        return Lang(school.language) if school is not None else Lang.zh

    def text(self, n: NotificationRequest, to: str | None, case: CaseData | None) -> str:
        lang = self.language(n.school_id)
        who = to or "、".join(word(lang, "role", r.value) for r in n.recipient_roles)
        actors = {e.actor for e in case.events} | {case.owner or ""} if case is not None else set()
        actors |= {n.named["by"]} if "by" in n.named else set()  # who sent a reminder
        return text_for(n, who, case, directory.names(self.engine, actors), lang)

    def rows(self, n: NotificationRequest, case: CaseData | None,
             now: datetime) -> tuple[NotificationRow, list[DeliveryRow]]:
        """The notification's row (naming its people) and its outbox rows, for the step to write."""
        ids, people = self.people(n, case.student.class_id if case is not None else n.class_id)
        row = n.model_dump(exclude={"named", "class_id", "items"})
        return (NotificationRow(**row, recipient_role=n.recipient_roles[0], recipient_staff=ids,
                                text=self.text(n, None, case)),
                plan(n, people, self.channels, bool(self.webhook_url), now))

    def send(self, n: NotificationRequest) -> None:
        """Histories before the step outbox: write the notification's rows, then send them."""
        row, deliveries = self.rows(n, store.load_case(self.engine, n.case_id), datetime.now(UTC))
        store.add_notification(self.engine, row)
        store.add_deliveries(self.engine, deliveries)
        self.deliver([n])

    def deliver(self, notifications: list[NotificationRequest]) -> None:
        """Send every unsent outbox row of these notifications, all side by side (a receiver that
        holds one up holds up no other). While any is failing, raise (retried with backoff: only the
        unsent rows); once none is, a refused one fails for good."""
        sends, cases = [], {}
        for n in notifications:
            stored = store.notification(self.engine, n.notification_id)
            ids = stored.recipient_staff if stored else []
            people = [p for p in (directory.person(self.engine, i) for i in ids) if p is not None]
            unsent = store.unsent_deliveries(self.engine, n.notification_id)
            if unsent and n.case_id not in cases and not n.notification_id.startswith(NOT_CASES):
                cases[n.case_id] = store.load_case(self.engine, n.case_id)
            sends += [(n, d, people, ids, cases.get(n.case_id)) for d in unsent]
        if len(sends) == 1:
            outcomes = [self._one(*sends[0])]
        else:  # on threads the process keeps (none started per notification)
            outcomes = list(_SENDERS.map(lambda send: self._one(*send), sends))
        failing = [d for (_, d, _, _, _), (o, _) in zip(sends, outcomes, strict=True) if o == "failing"]
        refused = []
        for n in notifications:
            refused += store.refused_deliveries(self.engine, n.notification_id)
            if not any(d.notification_id == n.notification_id for d in failing):
                self._settle(n, log.bind(case_id=n.case_id, notification_id=n.notification_id,
                                         notification_event=n.event.value))
        if failing:
            log.warning("deliveries failing; will retry", channels=sorted({d.channel for d in failing}))
            raise ApplicationError(f"{len(failing)} of the notification's deliveries are failing "
                                   f"({', '.join(sorted({d.channel for d in failing}))}); retried with backoff",
                                   type="DeliveryFailing")
        if refused:
            log.error("receivers refused the notification", channels=sorted({d.channel for d in refused}))
            raise ApplicationError("; ".join(f"{d.channel}: {d.last_error}" for d in refused),
                                   type="DeliveryRefused", non_retryable=True)

    def _settle(self, n: NotificationRequest, bound) -> None:
        rows = store.deliveries_of(self.engine, [n.notification_id])
        delivered = bool(rows) and all(r.status == "sent" for r in rows)
        store.mark_delivery(self.engine, n.notification_id, datetime.now(UTC) if delivered else None)
        bound.info("notification delivered" if delivered else "notification recorded", deliveries=len(rows))

    def _one(self, n: NotificationRequest, d: DeliveryRow, people: list[StaffRow], ids: list[str],
             case: CaseData | None) -> tuple[str, str | None]:
        try:
            self._deliver(n, d, people, ids, case)
        except Retry as exc:
            outcome, error = "failing", str(exc)
        except Refused as exc:
            outcome, error = "refused", str(exc)
        except Exception as exc:  # noqa: BLE001 - anything else is a failing row with its reason, never a lost one
            log.error("delivery failed unexpectedly", channel=d.channel, error=type(exc).__name__)  # no URL: secrets
            outcome, error = "failing", f"{d.channel}: {type(exc).__name__} while sending"
        else:
            outcome, error = "sent", None
        store.record_attempt(self.engine, d.delivery_id, outcome, datetime.now(UTC), error)
        metrics.delivery_attempted(d.channel, outcome)
        return outcome, error

    def _deliver(self, n: NotificationRequest, d: DeliveryRow, people: list[StaffRow], ids: list[str],
                 case: CaseData | None) -> None:
        link = self.link(n)
        if d.channel == "webhook":
            return self._webhook(n, d, ids, link)
        if d.channel == "email":
            person = next(p for p in people if p.staff_id == d.recipient)
            lang = self.language(n.school_id)
            subject = messages.subject_line(n, lang)
            body = f"{self.text(n, person.name, case)}\n\n{link}\n"
            return send_mail(self.channels.of(person.school_id, n.school_id).email, person.email, subject, body,
                             d.delivery_id)
        role = d.recipient.removeprefix("group:")
        chat = getattr(self.channels.of(n.school_id), d.channel)
        handle = {"wecom": "wecom", "dingtalk": "dingtalk", "feishu": None}[d.channel]
        mentions = [getattr(p, handle) for p in people if handle and role in p.roles and getattr(p, handle)]
        lang = self.language(n.school_id)
        who = "、".join(p.name for p in people if role in p.roles) or word(lang, "role", role)
        post(request_for(d.channel, chat.robots[role], chat.api_base,
                         f"{self.text(n, who, case)}\n{link}", mentions))

    def _webhook(self, n: NotificationRequest, d: DeliveryRow, ids: list[str], link: str) -> None:
        try:
            response = httpx.post(self.webhook_url, json=payload_for(n, ids, link),
                                  headers={"Idempotency-Key": n.notification_id}, timeout=10.0)
        except httpx.HTTPError as exc:
            raise Retry(f"webhook unreachable ({type(exc).__name__})") from None
        status = response.status_code
        if 400 <= status < 500 and status not in RETRYABLE_STATUS:
            raise Refused(f"the webhook refused the notification (HTTP {status})")
        if status >= 300:
            raise Retry(f"webhook answered HTTP {status}")
