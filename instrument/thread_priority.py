"""A thread lowering its own CPU priority (Linux, per thread): what the capture's store threads
do when asked to yield the CPU to the traced node (instrument/ingest_pipeline.py
``STORE_PRIORITY``).

Linux schedules threads, not processes: ``sched_setscheduler`` and ``setpriority`` given a thread
id (``threading.get_native_id``) change that thread alone. Lowering one's own priority needs no
privilege; taking it back does (``RLIMIT_NICE``, ``CAP_SYS_NICE``), so a pipeline's threads are
its own and end with it. The kernel weighs a thread's policy and niceness against the threads of
its own scheduling group first (the session's autogroup, the cgroup): against a process in
another group they yield only what their group's share allows, though a ``SCHED_IDLE`` thread is
preempted at once by any other thread waking on its core."""

from __future__ import annotations

import os
import threading


def check_priority(priority: int | str) -> int | str:
    """``priority`` if it is one ``lower_priority`` takes (``"idle"``, a niceness 0-19: 0 leaves
    the thread as it is), else ValueError."""
    if priority == "idle" or (isinstance(priority, int) and not isinstance(priority, bool) and 0 <= priority <= 19):
        return priority
    raise ValueError(f"the store threads' priority is 'idle' or a niceness 0-19, got {priority!r}")


def lower_priority(priority: int | str) -> None:
    """Thread initializer: this thread runs below the others (``"idle"``: the ``SCHED_IDLE``
    policy; a number: that much nicer, at most 19). Elsewhere than Linux, or refused, a no-op:
    the thread runs on at the process's priority."""
    if not priority or not hasattr(threading, "get_native_id"):
        return
    try:
        tid = threading.get_native_id()
        if priority == "idle":
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        elif isinstance(priority, int) and priority > 0 and hasattr(os, "setpriority"):
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + priority))
    except (OSError, AttributeError):
        pass
