"""The run's store writer: writes in order on one thread, answers collected in order."""

from __future__ import annotations

import threading
import time

import pytest

from llmops.eval.writer import StoreWriter


def test_answers_are_passed_on_in_the_order_the_writes_were_handed_over() -> None:
    writer = StoreWriter()
    seen: list[int] = []
    written: list[int] = []

    def write(n: int) -> int:
        time.sleep(0.01 * (3 - n))  # the first write is the slowest
        written.append(n)
        return n * 10

    for n in range(3):
        writer.submit(write, n, then=seen.append)
    writer.settle()
    writer.close()
    assert written == [0, 1, 2]  # one thread: in order
    assert seen == [0, 10, 20]


def test_collect_passes_on_only_what_is_finished() -> None:
    writer = StoreWriter()
    release = threading.Event()
    seen: list[str] = []
    writer.submit(lambda: "first", then=seen.append)
    writer.submit(release.wait, then=lambda _: seen.append("second"))
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        writer.collect()
        time.sleep(0.001)
    assert seen == ["first"] and writer.busy
    release.set()
    writer.settle()
    assert seen == ["first", "second"] and not writer.busy
    writer.close()


def test_ready_is_false_while_a_write_waits_for_the_thread() -> None:
    writer = StoreWriter()
    release = threading.Event()
    started = threading.Event()

    def blocking() -> None:
        started.set()
        release.wait()

    writer.submit(blocking)
    assert started.wait(5)
    assert writer.ready  # one running, none waiting: a new batch would start soon
    writer.submit(lambda: None)
    assert not writer.ready  # that one waits behind the running write
    release.set()
    writer.settle()
    assert writer.ready
    writer.close()


def test_a_failed_write_raises_its_own_error_and_later_answers_wait() -> None:
    writer = StoreWriter()
    seen: list[int] = []

    def broken() -> None:
        raise RuntimeError("the store is gone")

    writer.submit(broken, then=lambda _: seen.append(1))
    writer.submit(lambda: 2, then=seen.append)
    with pytest.raises(RuntimeError, match="the store is gone"):
        writer.settle()
    assert seen == []
    writer.collect()  # the failed write is dropped; the next answer goes on
    assert seen == [2]
    writer.close()


def test_handing_over_waits_when_the_queue_is_full() -> None:
    writer = StoreWriter(max_waiting=2)
    release = threading.Event()
    writer.submit(release.wait)
    writer.submit(lambda: None)
    handed = threading.Event()

    def third() -> None:
        writer.submit(lambda: None)
        handed.set()

    t = threading.Thread(target=third)
    t.start()
    assert not handed.wait(0.2)  # two already handed over: the third waits
    release.set()
    assert handed.wait(5)
    t.join()
    writer.settle()
    writer.close()


def test_the_switch_interval_is_lowered_while_a_writer_runs() -> None:
    import sys

    from llmops.eval.writer import SWITCH_INTERVAL_S

    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL_S  # Python's default, 5 ms
    first, second = StoreWriter(), StoreWriter()
    first.submit(lambda: None)
    assert sys.getswitchinterval() == SWITCH_INTERVAL_S
    second.submit(lambda: None)
    first.close()
    assert sys.getswitchinterval() == SWITCH_INTERVAL_S  # the second still writes
    second.close()
    assert sys.getswitchinterval() == before
    StoreWriter().close()  # never started: nothing to put back
    assert sys.getswitchinterval() == before


def test_a_writer_thread_is_not_starved_by_a_busy_loop() -> None:
    # A write of many short waits (as a database round trip gives the interpreter back)
    # while this thread computes: each wait must not cost a whole default switch interval.
    writer = StoreWriter()
    done = threading.Event()

    def write() -> float:
        start = time.perf_counter()
        for _ in range(50):
            time.sleep(0)  # lets go of the interpreter, then needs it back
        done.set()
        return time.perf_counter() - start

    took: list[float] = []
    writer.submit(write, then=took.append)
    deadline = time.monotonic() + 10
    while not done.is_set() and time.monotonic() < deadline:
        sum(i * i for i in range(2000))  # busy, holding the interpreter
    writer.settle()
    writer.close()
    assert took and took[0] < 50 * 0.005 / 2  # well under 50 default switch intervals
