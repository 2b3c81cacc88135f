"""probes.gil: reading the kernel's syscall and schedstat lines, the GIL-wait estimate, where
`_PyRuntime` is, and how the estimate changes a thread's state."""

from __future__ import annotations

import ctypes
import os
import sys
import threading

import pytest

from probes.gil import ThreadWait, blocked_on, runtime_range, schedstat
from probes.threadstate import WAITING_GIL_MIN_SHARE, classify_thread, stack_sample

GIL = (0x7F0000001000, 0x7F0000029000)
FUTEX = 202


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("running\n", "running"),
        ("202 0x7f0000001048 0x189 0x0 0x0 0x0 0xffffffff 0x7ffd 0x7f12\n", "gil"),
        ("202 0x55d0c0ffee00 0x80 0x0 0x0 0x0 0x0 0x7ffd 0x7f12\n", "other"),  # a Python lock
        ("202 0x7f0000029000 0x189 0x0 0x0 0x0 0x0 0x7ffd 0x7f12\n", "other"),  # one past the end
        ("0 0x3 0x7f00 0x100 0x0 0x0 0x0 0x7ffd 0x7f12\n", "other"),  # read(2)
        ("-1 0x7ffd 0x7f12\n", "running"),  # in user space, not asleep
        ("", ""),
        ("garbage", ""),
    ],
)
def test_blocked_on(line: str, expected: str) -> None:
    assert blocked_on(line, GIL, FUTEX) == expected


def test_without_a_runtime_range_no_futex_is_the_gil() -> None:
    assert blocked_on("202 0x7f0000001048 0x189\n", None, FUTEX) == "other"
    assert blocked_on("202 0x7f0000001048 0x189\n", GIL, None) == "other"


def wait(sleep: float, gil: int = 0, other: int = 0, peers: bool = True) -> ThreadWait:
    return ThreadWait(0.1, 1.0 - sleep, 0.0, sleep, 5000.0, 25, gil, other, peers)


def test_gil_wait_splits_sleep_by_what_the_blocked_reads_showed() -> None:
    assert wait(0.4, gil=3, other=1).gil_wait == pytest.approx(0.3)
    assert wait(0.4, gil=0, other=2).gil_wait == 0.0
    # No read caught it asleep: working peers make the sleep a GIL wait, a lone thread's is not.
    assert wait(0.4).gil_wait == pytest.approx(0.4)
    assert wait(0.4, peers=False).gil_wait == 0.0
    assert wait(0.4, gil=2, peers=False).gil_wait == pytest.approx(0.4)


def torch_thread(active: bool = True, owns_gil: bool = False) -> dict[str, object]:
    return {
        "thread_id": 1, "os_thread_id": 11, "thread_name": "w", "active": active,
        "owns_gil": owns_gil,
        "frames": [{"name": "Linear.forward", "filename": "/x/torch/nn/modules/linear.py",
                    "short_filename": "torch/nn/modules/linear.py", "line": 134}],
    }


def test_the_kernel_view_turns_an_active_thread_into_a_gil_waiter() -> None:
    # What py-spy alone shows for a GIL-bound torch loop: active, not holding the GIL.
    assert classify_thread(torch_thread()) == "native"
    assert classify_thread(torch_thread(), wait=wait(0.35)) == "waiting_gil"
    assert classify_thread(torch_thread(), wait=wait(WAITING_GIL_MIN_SHARE / 2)) == "native"
    # Not active and the kernel saw no GIL wait: blocked in native code, whatever py-spy guesses.
    assert classify_thread(torch_thread(active=False), wait=wait(0.5, other=4)) == "native"
    assert classify_thread(torch_thread(owns_gil=True), wait=wait(0.5)) == "gil"


def test_stack_sample_records_the_window() -> None:
    s = stack_sample(5, [torch_thread()], 1.0, lambda f: "", {11: wait(0.3, gil=2)})
    (t,) = s["threads"]
    assert t["state"] == "waiting_gil" and s["counts"]["waiting_gil"] == 1
    assert t["wait"]["gil_blocked"] == 2 and t["wait"]["gil_wait"] == pytest.approx(0.3)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_runtime_range_is_where_this_interpreter_keeps_its_runtime() -> None:
    rng = runtime_range(os.getpid())
    assert rng is not None
    address = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
    assert rng[0] == address
    assert rng[1] - rng[0] > 1000  # the whole structure, not one field


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_schedstat_of_this_thread_grows_with_work() -> None:
    tid = threading.get_native_id()
    a = schedstat(os.getpid(), tid)
    sum(i * i for i in range(200_000))
    b = schedstat(os.getpid(), tid)
    assert a is not None and b is not None
    assert b.run_ns > a.run_ns and b.t_ns > a.t_ns
