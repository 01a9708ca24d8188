"""A student or parent asks for help (求助): a help request, not a case (issue 29).

Anyone may ask, without an account, from the school's help page (``/h/{school_id}``; a poster carries it as a QR
code). What they write is kept sealed in the read model (``help_requests``) and never enters a workflow: the
``HelpRequestWorkflow`` carries the request's id and school only. The school's psychology teachers are told at
once, content-free (收到一条求助，请尽快查看), and one of them must look at it within the policy's
``help_look_within`` (2 h, the school's choice); unmet, it climbs its ladder every ``help_escalation_step``
(1 h): the psychology teachers again, then the leadership group. A person opens a case from it (the text carried
over into the case's summary) or closes it with a reason.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.case import Actor, Deadline, ShortText, Strict, Text
from models.domain import Recipient
from models.policy import DeadlinePolicy

#: Who is asking, in the page's words.
HELP_WHO = {"student": "学生本人", "parent": "家长", "classmate": "同学或朋友", "other": "其他"}
HelpState = Literal["open", "looked", "case_opened", "closed"]
HELP_STATE_ZH = {"open": "待查看", "looked": "已查看，待处理", "case_opened": "已开案", "closed": "已关闭"}
#: The help request's own ladder: at the deadline the psychology teachers again, a step later leadership.
HELP_LADDER: dict[int, tuple[Recipient, ...]] = {1: (Recipient.psychology_teacher,), 2: (Recipient.leadership,)}


class HelpBody(Strict):
    """What the asker writes (every field sealed at rest; never shown to another asker)."""

    who: Literal["student", "parent", "classmate", "other"]
    name: ShortText | None = Field(None, description="who is asking (optional)")
    class_name: ShortText | None = Field(None, description="the class concerned")
    contact: ShortText = Field(description="how to reach the asker")
    text: Text = Field(max_length=2000, description="what is happening")


class HelpStart(Strict):
    help_id: str = Field(max_length=64)
    school_id: str = Field(max_length=64)
    policy: DeadlinePolicy


class HelpData(Strict):
    """The help request as its workflow keeps it: no word of what was written."""

    help_id: str
    school_id: str
    state: HelpState = "open"
    deadline: Deadline
    looked_by: str | None = None
    case_id: str | None = None
    closed_reason: str | None = None
    resolved_by: str | None = None
    seq: int = 0


class HelpResolve(Strict):
    """A person opens a case from the request, or closes it with a reason."""

    actor: Actor
    outcome: Literal["case_opened", "closed"]
    case_id: str | None = Field(None, max_length=64)
    reason: Text | None = None


def help_workflow_id(help_id: str) -> str:
    return f"help-{help_id}"
