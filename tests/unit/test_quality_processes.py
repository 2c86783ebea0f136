"""The gate in its own processes (services/quality/processes.py): the worker's event loop keeps
ticking while faces are compared, the verdicts are the gate's own, the input's profile is
worked out once per input, and closing leaves no process behind."""

from __future__ import annotations

import math
import multiprocessing
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from heirloom.config import QualitySettings
from heirloom.devstack.output_faults import donor_face, paste_face
from heirloom.domain.errors import InternalError
from heirloom.domain.jobs import Operation
from heirloom.domain.quality import TryReport, Verdict
from heirloom.gpu_handler.engines import CpuEngine
from heirloom.services.imaging.pipeline import decode_rgb
from heirloom.services.quality.gate import check_output
from heirloom.services.quality.processes import PARENT_CHECK_S, GateProcesses
from tests.harness.evaluation_photos import degrade, jpeg, photographs, png

SETTINGS = QualitySettings()
# What the brief for the gate allows the worker's loop: a stall longer than this delays
# heartbeats and polls.


def one_megapixel(img: Image.Image) -> Image.Image:
    scale = math.sqrt(1_000_000 / (img.width * img.height))
    return img.resize((round(img.width * scale), round(img.height * scale)))


@pytest.fixture(scope="module")
def hopper() -> tuple[bytes, bytes, bytes]:
    """Grace Hopper at 1 MP, grey: the prepared input, the stand-in's output and the output
    with the astronaut's face pasted over hers."""
    photo = next(p for p in photographs() if p.name == "hopper")
    prepared = jpeg(one_megapixel(degrade(photo, "grey")))
    restored = CpuEngine().apply(decode_rgb(prepared, error=InternalError), [Operation.RESTORE])
    return prepared, png(restored), png(paste_face(restored, donor_face()))


@pytest.fixture(scope="module")
def gate() -> Iterator[GateProcesses]:
    with GateProcesses(SETTINGS, processes=1) as running:
        yield running


def _cpu_here(work: Callable[[], object]) -> float:
    """The CPU seconds this process (every thread of it) spends while `work` runs: what the
    gate costs the worker's own interpreter, where a GIL held by dlib stalls its event loop.
    CPU time, not the clock: a loaded machine slows both sides alike and decides nothing."""
    before = time.process_time()
    work()
    return time.process_time() - before


def _checks(run: Callable[[str, bytes, bytes], TryReport], photos: tuple[bytes, ...]) -> None:
    prepared, faithful, swapped = photos
    for n in range(3):
        assert run(f"input-{n}", prepared, faithful).identity is Verdict.PASSED
        assert run(f"input-{n}", prepared, swapped).identity is Verdict.FAILED


def test_the_event_loop_never_stalls_while_the_gate_compares_faces(
    gate: GateProcesses, hopper: tuple[bytes, bytes, bytes]
) -> None:
    # The same checks on the activity's thread run dlib inside the worker's interpreter (and
    # hold its GIL through each call); through the gate's processes the worker only sends the
    # photos and waits. The face comparisons' CPU must be spent elsewhere.
    in_thread = _cpu_here(lambda: _checks(lambda _, i, o: check_output(i, o, SETTINGS), hopper))
    in_processes = _cpu_here(
        lambda: _checks(lambda key, i, o: gate.check(key, i, o, identity=True), hopper)
    )
    assert in_processes * 10 < in_thread, (
        f"the worker's process spent {in_processes * 1000:.0f} ms of CPU on checks done in the "
        f"gate's processes, against {in_thread * 1000:.0f} ms doing them itself"
    )


def test_the_processes_give_the_gates_own_verdicts(
    gate: GateProcesses, hopper: tuple[bytes, bytes, bytes]
) -> None:
    prepared, faithful, swapped = hopper
    for output in (faithful, swapped):
        here = check_output(prepared, output, SETTINGS)
        there = gate.check("hopper", prepared, output, identity=True)
        assert there.sanity is here.sanity
        assert (there.structure, there.identity, there.reason) == (
            here.structure,
            here.identity,
            here.reason,
        )
        assert there.faces_found == here.faces_found
        assert there.identity_distance == pytest.approx(here.identity_distance, abs=1e-6)


def test_an_inputs_profile_is_worked_out_once_and_reused(
    gate: GateProcesses, hopper: tuple[bytes, bytes, bytes]
) -> None:
    prepared, faithful, swapped = hopper
    gate.profile_soon("reused", prepared, identity=True)
    first = gate.check("reused", prepared, faithful, identity=True)
    second = gate.check("reused", prepared, swapped, identity=True)
    assert (first.identity, second.identity) == (Verdict.PASSED, Verdict.FAILED)
    # Without a profile the check works the input out too: it costs more than with one.
    alone = check_output(prepared, faithful, SETTINGS)
    assert alone.cpu_ms > first.cpu_ms


def test_a_profile_of_other_bytes_is_not_used(
    gate: GateProcesses, hopper: tuple[bytes, bytes, bytes]
) -> None:
    """A key whose input changed (a retried preparation stored it again) is checked against
    the input given, never against the profile kept under the key."""
    prepared, faithful, _ = hopper
    other = jpeg(one_megapixel(photographs()[0].image))
    gate.profile_soon("changed", other, identity=True)
    assert gate.check("changed", prepared, faithful, identity=True).passed


def test_closing_stops_every_process() -> None:
    before = set(multiprocessing.active_children())
    with GateProcesses(SETTINGS, processes=2) as gate:
        prepared = jpeg(Image.new("RGB", (64, 48), (120, 90, 60)))
        report = gate.check("blank", prepared, prepared, identity=True)
        assert report.sanity is Verdict.FAILED  # a flat picture is blank
        assert len(set(multiprocessing.active_children()) - before) == 2
    assert set(multiprocessing.active_children()) - before == set()


# A worker that owns a gate pool, prints its gate processes' ids, then waits to be killed.
_OWNER = """
import multiprocessing, sys, time
from heirloom.config import QualitySettings
from heirloom.services.quality.processes import GateProcesses
if __name__ == "__main__":
    gate = GateProcesses(QualitySettings(), processes=2)
    gate.start()
    while len(multiprocessing.active_children()) < 2:  # the two gate processes
        time.sleep(0.05)
    time.sleep(1.0)
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_killed_worker_leaves_no_gate_process_behind(tmp_path: Path) -> None:
    script = tmp_path / "owner.py"
    script.write_text(_OWNER)
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    # The owner prints within seconds; a hang fails here, not at the suite's timeout.
    guard = threading.Timer(60, owner.kill)
    guard.start()
    try:
        assert owner.stdout is not None
        pids = [int(p) for p in owner.stdout.readline().split()]
        gate_pids = [pid for pid in pids if _alive(pid)]
        assert gate_pids, pids
    finally:
        guard.cancel()
        owner.kill()
        owner.wait()
    # SIGKILL: the pool's shutdown never ran. Each gate process sees its parent gone (one still
    # importing on a loaded machine sees it as soon as it gets to its initializer).
    deadline = time.monotonic() + 10 * PARENT_CHECK_S + 60
    while any(_alive(pid) for pid in gate_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in gate_pids if _alive(pid)] == []
