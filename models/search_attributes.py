"""Search attributes of a case workflow: no personal data, ever."""

from temporalio.common import SearchAttributeKey

CASE_STATE = SearchAttributeKey.for_keyword("CaseState")
RISK_LEVEL = SearchAttributeKey.for_keyword("RiskLevel")
SCHOOL_ID = SearchAttributeKey.for_keyword("SchoolId")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")

ALL = (CASE_STATE, RISK_LEVEL, SCHOOL_ID, ESCALATION_LEVEL)
