"""Record the golden history of the released IncidentReviewWorkflow.

    .venv/bin/python -m tests.histories.record_incidents tests/histories/incident-reviews/<date>-<what changed>

One review on the time-skipping server: recorded, overdue past its 14 days (the ladder's first two
rungs), a draft saved, then submitted and typeset. From v3 the education authority investigates: its person
forms the group with the police and experts, the school gives its account, the group's member writes and
submits. Written encrypted with that folder's test-only
``keyring.json`` (made if missing, rotated after). tests/test_golden_histories.py replays every one.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from audit import history
from config.temporal import data_converter
from crypto.keyring import Keyring, ensure_file, rotate
from db import directory
from db.engine import migrate, open_engine
from models.case import Actor
from models.directory import Directory
from models.incident import (
    SECTIONS,
    ExternalMember,
    FactsBody,
    FactsSubmission,
    GroupBody,
    GroupForming,
    IncidentBody,
    IncidentStart,
    ReportDraft,
    ReportSubmission,
    ReviewReport,
)
from models.policy import DeadlinePolicy
from tests.conftest import SCHOOLS, TEST_SERVER, make_settings
from worker import build_worker
from workflows.incident_workflow import IncidentReviewWorkflow, incident_workflow_id

LEAD = Actor(staff_id="lead-1", role="leadership", school_id="school-a")
INVESTIGATOR = Actor(staff_id="e-liu", role="edu_authority", school_id="edu-city")
GROUP = GroupBody(members=["e-liu"], external=[
    ExternalMember(name="王警官", organisation="某市公安局某分局", kind="police"),
    ExternalMember(name="李主任", organisation="某市精神卫生中心", kind="expert")])


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keyring_file = ensure_file(out / "keyring.json")
    keyring = Keyring(str(keyring_file))
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=TEST_SERVER,
                                                        data_converter=data_converter(keyring))
    async with env:
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings(Path(tmp), f"sqlite:///{tmp}/golden.db", None, keyring=str(keyring_file))
            engine = open_engine(settings)
            migrate(engine)
            directory.load(engine, Directory(schools=SCHOOLS.schools, authorities=SCHOOLS.authorities))
            async with build_worker(env.client, settings, engine):
                incident_id = uuid.uuid4().hex
                now = await env.get_current_time()
                start = IncidentStart(
                    incident_id=incident_id, school_id="school-a", recorded_by=LEAD, recorded_at=now,
                    event=IncidentBody(kind="suicide_attempt", occurred_at=now - timedelta(hours=1), place="操场",
                                       summary="学生在操场边被同学发现情绪失控，已送医。"),
                    policy=DeadlinePolicy(version="golden-2026.1"), investigators=["edu-city"])
                handle = await env.client.start_workflow(IncidentReviewWorkflow.run, start,
                                                         id=incident_workflow_id(incident_id),
                                                         task_queue=settings.task_queue)
                await handle.execute_update(IncidentReviewWorkflow.form_group,
                                            GroupForming(actor=INVESTIGATOR, group=GROUP))
                await handle.execute_update(IncidentReviewWorkflow.provide_facts, FactsSubmission(
                    actor=LEAD, facts=FactsBody(account="学生此前已建档，心理教师评估为高风险并告知家长。")))
                await env.sleep(timedelta(days=14, hours=13))
                text = "调查工作小组对事件进行了全面复盘，逐项核实了经过与原因。" * 25
                await handle.execute_update(IncidentReviewWorkflow.save_draft, ReportDraft(
                    actor=INVESTIGATOR, report=ReviewReport(**{name: text for name in SECTIONS})))
                await handle.execute_update(IncidentReviewWorkflow.submit, ReportSubmission(actor=INVESTIGATOR))
                await handle.result()
                (out / "review.json").write_text(history.export_json(await handle.fetch_history()))
    print(f"recorded with key {keyring.keys().current}; rotated to {rotate(keyring_file)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(asyncio.run(main(Path(sys.argv[1]))))
