"""The guardian's answer link, by SMS to the number on record (``LinkSmsWorkflow``'s one activity).

The message names the school and the notice, never the student; it carries the link and says where the code
is (printed on the notice, or from the head teacher): the code never travels with the link.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from activities.documents import link_url
from channels.config import ChannelsFile
from channels.sms import SmsFailed, send_sms
from db import directory, guardian_links
from db.tables import GuardianLinkRow
from models.case import LinkSms
from paper.messages import local_time

log = structlog.get_logger(__name__)


def text_of(school: str, url: str, row: GuardianLinkRow) -> str:
    return (f"【{school}】您好，学校发给您《学生心理健康情况告知书》的在线答复链接：{url} ，"
            f"请于 {local_time(row.expires_at)}前打开答复。"
            "打开后需输入答复码：答复码印在纸质告知书上，也可向班主任询问。"
            "如遇紧急情况，请立即拨打 120 或 110。")


def send_link(engine: Engine, channels: ChannelsFile, public_url: str, request: LinkSms) -> None:
    with_log = log.bind(case_id=request.case_id)
    row = guardian_links.find_by_id(engine, request.link)
    phone = guardian_links.phone_of(engine, request.case_id)
    school = directory.school(engine, row.school_id) if row is not None else None
    address = channels.of(row.school_id if row else None).sms
    if row is None or phone is None or school is None or address is None:
        raise ApplicationError("没有可用的短信通道或监护人手机号", type="NoSmsChannel", non_retryable=True)
    token, _ = guardian_links.token_and_code(engine, row)
    try:
        send_sms(address, phone, text_of(school.name, link_url(public_url, token), row))
    except SmsFailed as exc:
        with_log.warning("link sms not taken", reason=str(exc))
        raise ApplicationError(str(exc), type="SmsFailed") from None
    guardian_links.sms_sent(engine, row.link_id, datetime.now(UTC))
    with_log.info("link sent by sms")
