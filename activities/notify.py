"""Notifications: the outbox row first, then the webhook.

A notification says who must act on which case by when. It never carries a
student's name, narrative or contact details: the content stays behind
the API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import structlog
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from models import directory, store
from models.case import NotificationRequest
from models.domain import OBLIGATION_ZH, ROLE_ZH, NotificationEvent
from models.tables import NotificationRow

log = structlog.get_logger(__name__)
#: Client errors that a later attempt can get past (timeout, rate limit, conflict).
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
SCHOOL_TZ = ZoneInfo("Asia/Shanghai")


def local_time(value: datetime) -> str:
    return value.astimezone(SCHOOL_TZ).strftime("%Y-%m-%d %H:%M（北京时间）")


def text_for(n: NotificationRequest) -> str:
    """The zh-CN text: roles, case id, obligation and due time; nothing about the student."""
    roles = "、".join(ROLE_ZH[r.value] for r in n.recipient_roles)
    case = f"个案 {n.case_id}"
    duty = OBLIGATION_ZH[n.obligation] if n.obligation else ""
    due = local_time(n.due_at) if n.due_at else ""
    match n.event:
        case NotificationEvent.deadline_missed | NotificationEvent.deadline_escalated:
            return f"【预警·第{n.escalation_level}级】{case}的「{duty}」已于 {due} 逾期未完成，请{roles}立即督办。"
        case NotificationEvent.reported_to_authority:
            return f"{case}：监护人或学生拒绝就医，学校已依规向教育主管部门报告。详情请登录系统查看。请{roles}知悉。"
        case NotificationEvent.case_closed:
            return f"{case}已结案。请{roles}知悉，结案小结请登录系统查看。"
        case _:
            return f"{case}：请{roles}于 {due} 前完成「{duty}」。详情请登录系统查看。"


def payload_for(n: NotificationRequest, people: list[str]) -> dict:
    """The webhook body: no student data."""
    return {
        "notification_id": n.notification_id,
        "event": n.event.value,
        "case_id": n.case_id,
        "school_id": n.school_id,
        "recipient_role": n.recipient_roles[0].value,
        "recipient_roles": [r.value for r in n.recipient_roles],
        "obligation": n.obligation.value if n.obligation else None,
        "due_at": n.due_at.isoformat() if n.due_at else None,
        "escalation_level": n.escalation_level,
        "recipient_staff": people,
    }


def send(engine: Engine, n: NotificationRequest, webhook_url: str | None) -> None:
    # the people it is for, from the directory at send time: the class's head teacher, the grade's
    # grade head, the school's people of the other roles
    class_id = store.case_class(engine, n.case_id)
    people = list(dict.fromkeys(p for role in n.recipient_roles
                                for p in directory.people_for(engine, n.school_id, role, class_id)))
    row = store.add_notification(
        engine, NotificationRow(**n.model_dump(), recipient_role=n.recipient_roles[0], recipient_staff=people,
                                text=text_for(n))
    )
    bound = log.bind(case_id=n.case_id, notification_id=n.notification_id, notification_event=n.event.value)
    if not webhook_url or row.delivered_at is not None:
        bound.info("notification recorded", delivered=row.delivered_at is not None)
        return
    try:
        response = httpx.post(
            webhook_url,
            json=payload_for(n, row.recipient_staff),
            headers={"Idempotency-Key": n.notification_id},
            timeout=10.0,
        )
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        store.mark_delivery(engine, n.notification_id, None)
        status = exc.response.status_code
        if 400 <= status < 500 and status not in RETRYABLE_STATUS:
            # the receiver refuses this request as such: sending it again cannot help
            bound.error("webhook refused the notification", status=status)
            raise ApplicationError(f"the webhook refused the notification (HTTP {status})",
                                   type="DeliveryRefused", non_retryable=True) from None
        bound.warning("webhook delivery failed; will retry", status=status)
        raise
    except httpx.HTTPError as exc:
        store.mark_delivery(engine, n.notification_id, None)
        bound.warning("webhook delivery failed; will retry", error=type(exc).__name__)
        raise
    store.mark_delivery(engine, n.notification_id, datetime.now(UTC))
    bound.info("notification delivered", status=response.status_code)
