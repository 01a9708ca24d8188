"""The workflow sandbox that the worker and the auditors' replayer share.

Code in ``workflows/`` (but this module and ``replay.py``, which run on the
host) is loaded inside Temporal's sandbox: deterministic, no I/O. Only pure
data and rule libraries are passed through from the host; everything the
workflows import from this project is ``models`` (the domain: vocabulary,
boundary models, policy, assessment rules) and ``workflows`` itself.
tests/test_structure.py checks that no sandboxed module reaches further.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

#: Modules the sandbox shares with the host: pure data, the machine library, and OpenTelemetry (the
#: tracing interceptor's workflow side, when tracing is on, keeps its span context across the boundary).
PASSTHROUGH = ("pydantic", "pydantic_core", "annotated_types", "transitions", "models", "opentelemetry")

#: The modules of workflows/ that run inside the sandbox.
SANDBOXED = ("workflows.case_workflow", "workflows.incident_workflow", "workflows.watch_workflow",
             "workflows.digest_workflow", "workflows.archiver",
             "workflows.machine", "workflows.deadlines", "workflows.view")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))
