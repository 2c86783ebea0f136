"""The known mutations: one-line changes to the product that the suite must catch.

Each is what a hurried change could plausibly do to money, settlement, model runs, shares,
webhooks or erasure (issue #32 lists them); `tests/mutations/run.py` applies each alone to a copy
of the tree and runs the tests named here, which must fail. `tests/unit/test_mutation_catalogue.py`
keeps the catalogue honest while the code moves: every `old` text occurs exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    why: str  # what the mutation breaks, in a user's or an operator's words
    path: str  # relative to the repository root
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids (relative to the root) that must catch it


GUARDS = "tests/integration/test_mutation_guards.py::"
ERASURE = GUARDS + "test_erasure_leaves_no_file_and_no_personal_row"
OUT_OF_REACH = GUARDS + "test_another_users_share_and_delivery_are_out_of_reach"
ROUTE_WALK = (
    "tests/integration/test_route_security.py::"
    "test_every_route_refuses_callers_without_the_right_key"
)

MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        name="reservation-refund",
        why="a charge that landed unseen before the reservation failed is never refunded",
        path="src/heirloom/workflows/restoration.py",
        old="        if reservation.error_code == UNRESERVED:\n"
        "            await self._give_up(JobStatus.FAILED, UNRESERVED, message_for(UNRESERVED))\n",
        new="",
        tests=(
            "tests/integration/test_failures.py::"
            "test_a_charge_that_landed_before_the_reservation_failed_is_refunded",
        ),
    ),
    Mutation(
        name="settlement-partial-outputs",
        why="an interrupted job settled by reconciliation keeps its partial files",
        path="src/heirloom/services/jobs/settlement.py",
        old="        remove_partial_outputs(self.storage, job.user_id, job_id)\n",
        new="",
        tests=(GUARDS + "test_settling_an_interrupted_job_removes_its_partial_files",),
    ),
    Mutation(
        name="next-generation-dead-check",
        why="two attempts that both saw a RunPod job dead open two generations: two model runs",
        path="src/heirloom/services/runpod/runs.py",
        old=".where(col(Job.id) == job_id, col(Job.runpod_job_id) == dead_runpod_job_id)",
        new=".where(col(Job.id) == job_id)",
        tests=(GUARDS + "test_two_attempts_that_saw_one_dead_run_open_one_generation",),
    ),
    Mutation(
        name="paid-active-jobs-unlimited",
        why="a paid key can start any number of jobs at once",
        path="src/heirloom/domain/tiers.py",
        old="        model_attempts=4,\n        max_active_jobs=10,\n        gpu_priority=2,\n"
        "        storage_quota_bytes=20 * 1024**3,\n",
        new="        model_attempts=4,\n        max_active_jobs=None,\n        gpu_priority=2,\n"
        "        storage_quota_bytes=20 * 1024**3,\n",
        tests=(GUARDS + "test_a_paying_tier_caps_the_jobs_it_has_in_progress",),
    ),
    Mutation(
        name="erasure-user-prefix",
        why="an erased user's export ZIPs (and anything else under their prefix) survive",
        path="src/heirloom/services/privacy/erasure.py",
        old="        return deleted + self.storage.delete_prefix(user_prefix(user_id))\n",
        new="        return deleted\n",
        tests=(ERASURE,),
    ),
    Mutation(
        name="erasure-job-events",
        why="an erased user's job events (file names, errors) survive",
        path="src/heirloom/services/privacy/erasure.py",
        old="session.execute(sa.delete(JobEvent).where(col(JobEvent.user_id) == user_id))\n",
        new="pass\n",
        tests=(ERASURE,),
    ),
    Mutation(
        name="erasure-webhook-secret",
        why="an erased user's webhook endpoint and signing secret survive",
        path="src/heirloom/services/privacy/erasure.py",
        old="sa.delete(WebhookEndpoint).where(col(WebhookEndpoint.user_id) == user_id)",
        new="sa.delete(WebhookEndpoint).where(sa.false())",
        tests=(ERASURE,),
    ),
    Mutation(
        name="share-revoke-owner",
        why="anyone who knows a share's id can revoke another user's share",
        path="src/heirloom/services/results/shares.py",
        old="            if share is None or share.user_id != user_id:\n"
        '                raise NotFound("No such share.")\n'
        "            if share.revoked_at is None:",
        new='            if share is None:\n                raise NotFound("No such share.")\n'
        "            if share.revoked_at is None:",
        tests=(OUT_OF_REACH, ROUTE_WALK),
    ),
    Mutation(
        name="redeliver-owner",
        why="anyone can make another user's webhook delivery go out again",
        path="src/heirloom/services/events/webhooks.py",
        old="            delivery = session.get(WebhookDelivery, delivery_id)\n"
        "            if delivery is None or delivery.user_id != user_id:\n",
        new="            delivery = session.get(WebhookDelivery, delivery_id)\n"
        "            if delivery is None:\n",
        tests=(OUT_OF_REACH, ROUTE_WALK),
    ),
    Mutation(
        name="share-max-lifetime",
        why="a share link can be made to live for ever",
        path="src/heirloom/api/routes/shares.py",
        old="    if expires_in > settings.share_max_ttl_s:\n",
        new="    if False:\n",
        tests=(GUARDS + "test_a_share_link_past_the_longest_lifetime_is_refused",),
    ),
    Mutation(
        name="public-share-budget",
        why="public share pages have no per-address budget: anyone can hammer them",
        path="src/heirloom/api/routes/public_shares.py",
        old='router = APIRouter(prefix="/s", tags=["public shares"], dependencies=[ShareBudget])',
        new='router = APIRouter(prefix="/s", tags=["public shares"])',
        tests=(
            "tests/integration/test_rate_limits.py::test_public_share_pages_spend_a_budget_per_address",
        ),
    ),
    Mutation(
        name="webhook-send-time-ssrf",
        why="a webhook host that resolved public when saved and private at send time is reached",
        path="src/heirloom/services/events/webhooks.py",
        old="target = check_target(url, allow_private=self.allow_private, resolver=self.resolver)",
        new="target = check_target(url, allow_private=True, resolver=self.resolver)",
        tests=(
            "tests/integration/test_webhook_bounds.py::"
            "test_a_name_rebound_to_loopback_is_never_connected_to",
        ),
    ),
    Mutation(
        name="withdraw-terminates",
        why="a submission answered 503 keeps running and may be charged later",
        path="src/heirloom/starters/restoration.py",
        old="        if stop:\n            try:\n",
        new="        if False:\n            try:\n",
        tests=(
            "tests/integration/test_settlement.py::"
            "test_without_a_worker_post_answers_503_charges_nothing_and_a_same_key_retry_runs",
        ),
    ),
)
