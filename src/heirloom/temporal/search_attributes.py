"""Custom search attributes, so operators can filter jobs in the Temporal Web UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

USER_ID = SearchAttributeKey.for_keyword("HeirloomUserId")
TIER = SearchAttributeKey.for_keyword("HeirloomTier")
JOB_STATUS = SearchAttributeKey.for_keyword("HeirloomJobStatus")

ALL = (USER_ID, TIER, JOB_STATUS)
