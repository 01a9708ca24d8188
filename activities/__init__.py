"""All I/O of a case: read-model projection, notifications, documents.

Every activity is idempotent: it may run twice (a retry, a worker killed
after the work but before the completion reached the server) and the
second run must not send, write or render twice.
"""

from activities.case_activities import CaseActivities

__all__ = ["CaseActivities"]
