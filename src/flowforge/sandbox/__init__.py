"""Sandbox for model-written code (answers, Programmer/Test code, workflows). Model code is hostile.

Every run is a fresh child process `python -I -S -B` (isolated mode, no site-packages, stdlib
only) with a scrubbed environment (PATH, HOME, TMPDIR, locale only; nothing from the parent such
as OPENAI_API_KEY passes), a fresh scratch dir as cwd (deleted afterwards), the job on a private
pipe, and the verdict on another pipe tagged with a per-run nonce.

Three outcomes, kept apart in ExecResult: passed (success=True) / timed out (timeout=True,
error="Timeout") / failed with a reason (error = exception class or "OutputLimitExceeded",
"MemoryError", "Crash", "EarlyExit", "ChannelFlood"; message says why). A failure of the sandbox
itself (cannot start, cannot isolate) raises SandboxError and is never reported as the code's
failure.

Level "bwrap" (the default; needs the `bubblewrap` package and /usr/bin/python3):
  - the OS is the boundary: bubblewrap runs the child as uid 65534 in fresh user, pid, network,
    ipc, uts and mount namespaces. It sees /usr (and the /bin, /lib links) read-only, its scratch
    dir at /work, a private size-capped /tmp, a minimal /dev and its own /proc; no network (only a
    down loopback), no host processes, no /root, /home, /etc, repo or venv. It dies with its
    parent (--die-with-parent) and starts a new session (no TIOCSTI into our terminal).
  - as root, the child also starts as a fresh random unprivileged host uid (no groups, no
    capabilities, no_new_privs), so RLIMIT_NPROC applies and files it leaves are its own; a
    memory cgroup (v2 where mounted, else v1) bounds the whole run's memory, page cache, tmpfs
    and memfd included (the kernel OOM-kills it: memory_exceeded), and a pids cgroup bounds
    its processes and threads.
  - inside: rlimits (CPU s, address space, file size, 64 fds, core 0) and the audit hook
    (second layer: sockets, fork/exec, ctypes, writes outside scratch, reads outside the stdlib,
    frame/gc introspection, code-object construction).
  - does NOT cover: kernel exploits (the child shares the host kernel; no seccomp filter);
    timing side channels; CPU and memory use up to the limits; reading world-readable files
    under /usr.
Level "unsafe-rlimits" (explicit opt-in: isolation="unsafe-rlimits" or FLOWFORGE_ISOLATION;
logs a loud warning): the same child, rlimits and audit hook, but no namespaces: it runs with
this process's uid (root in our containers), network and filesystem. The audit hook is
in-process (PEP 578: not a security boundary); code that defeats it can read the parent's
environment, reach the network, kill the host and persist. Use it only where bwrap cannot run.

Verdicts: `run_tests` runs the program in one child ("serve") and the tests in another; a test's
call to a program function crosses the host as plain data (JSON with tagged tuples, sets,
bytes...), so the program cannot reach the tests' builtins, comparisons or verdict channel.
"""
from __future__ import annotations

from typing import Callable

from flowforge.sandbox.core import LEVELS, Limits, ProcessSandbox, get_sandbox
from flowforge.types import ExecResult

__all__ = ["CODE_PRELUDE", "LEVELS", "Limits", "ProcessSandbox", "get_sandbox", "run_tests", "arun", "arun_tests",
           "run_workflow"]

# AFlow's execution globals: code answers may use these without importing them. The code scorer
# and the code operators put them before the program and in the tests' process alike.
CODE_PRELUDE = (
    "import math\nimport re\nimport string\nimport heapq\nimport itertools\nimport collections\n"
    "import functools\nfrom typing import *\n"
)


def _box(limits: Limits | None) -> ProcessSandbox:
    return get_sandbox((limits or Limits()).isolation)


def run_tests(program: str, tests: str | list[str], *, entry_point: str | None = None, setup: str = "",
              limits: Limits | None = None) -> ExecResult:
    """Tests against a program, each in its own sandboxed process. success iff every test passes;
    result is {"passed": k, "total": n}; message names the first failing test. Tests are assert
    statements (each top-level assert, or each list item, is one test) or a HumanEval
    `def check(candidate)`, called as check(<entry_point>). `setup` runs before the tests in the
    tests' process (e.g. the imports the tests use). Values returned by the program must be plain
    data (None, bool, int, float, complex, str, bytes, list, tuple, set, frozenset, dict, range,
    or an iterator of these); anything else fails the test that received it."""
    return _box(limits).run_tests(program, tests, entry_point=entry_point, setup=setup, limits=limits)


async def arun(code: str, limits: Limits | None = None, stdin: str | None = None) -> ExecResult:
    """Sandbox.run without blocking the event loop."""
    return await _box(limits).arun(code, limits, stdin)


async def arun_tests(program: str, tests: str | list[str], *, entry_point: str | None = None, setup: str = "",
                     limits: Limits | None = None) -> ExecResult:
    """run_tests without blocking the event loop."""
    return await _box(limits).arun_tests(program, tests, entry_point=entry_point, setup=setup, limits=limits)


async def run_workflow(source: str, problem: str, call_op, *, limits: Limits | None = None,
                       paused: Callable[[], float] | None = None) -> ExecResult:
    """Run a workflow's `async def solve(problem, ops)` in a sandboxed child with restricted builtins.
    Each `await ops.<name>(**kwargs)` in the child becomes `await call_op(name, kwargs)` here
    (concurrently; JSON-able values nested at most 32 deep, at most 1 MB per call). An exception
    from call_op is raised in the child as OperatorError(message). result = str(solve's return
    value). `paused()` gives the seconds not to count against limits.wall_s (time spent waiting on
    the model backend)."""
    return await _box(limits).run_workflow(source, problem, call_op, limits=limits, paused=paused)
