"""Sandbox for model-written code (answers, Programmer/Test code, workflows). Model code is hostile.

Every run is a fresh child process `python -I -S -B` (isolated mode, no site-packages, stdlib only),
started in its own session with a scrubbed environment (PATH, HOME, TMPDIR, locale only; nothing
from the parent such as OPENAI_API_KEY passes), a fresh scratch dir as cwd (deleted afterwards),
the job on a private pipe, and the verdict on another pipe tagged with a per-run nonce.

Three outcomes, kept apart in ExecResult: passed (success=True) / timed out (timeout=True,
error="Timeout") / failed with a reason (error = exception class or "OutputLimitExceeded",
"Crash", "EarlyExit", "ChannelFlood"; message says why). A failure of the sandbox itself
(cannot start, cannot isolate) raises SandboxError and is never reported as the code's failure.

Level "rlimits" (works anywhere Linux runs Python):
  - covers: rlimits (CPU s, address space, file size, 64 open files, core 0, NPROC when the child
    is not root); wall timeout + SIGKILL of the process group; output cap (kill beyond it);
    scrubbed env; an audit hook installed before user code that blocks: sockets/DNS/urllib, fork,
    exec, subprocess, os.system, posix_spawn, signals to other pids (and pidfd, removed), ctypes
    and other native escape modules, writes/renames/deletes outside scratch, reads outside the
    stdlib + scratch (so /etc/passwd, ~/.ssh, the project), frame/gc introspection, code-object
    construction and marshal outside the importer.
  - does NOT cover: the audit hook is in-process (PEP 578: not a security boundary). A CPython
    memory-corruption bug reachable from pure Python would bypass it, and then the child runs
    with the parent's uid (root in our container) and network. Not covered: RLIMIT_NPROC as root;
    directory listings / stat() of stdlib paths; timing side channels; CPU/memory use up to
    the limits; a program that games its own tests by value tricks (e.g. an object whose __eq__
    always returns True).
Level "namespaces" (Linux, root, `unshare` + `setpriv`): everything above, plus
  - new net namespace (no interfaces but a down loopback: no network even if the hook falls),
    new pid namespace with a private /proc (the host's processes are invisible and unkillable;
    when the run ends the namespace dies with all its processes), new mount namespace in which
    /root, /home, $HOME, the repo and $FLOWFORGE_HOME are masked by empty read-only tmpfs;
  - the child runs as a fresh unprivileged uid (random, >= 100000, no groups, no capabilities,
    no_new_privs) so RLIMIT_NPROC applies and files mode 0700/0600 of other users are unreadable,
    using a world-executable system python (e.g. /usr/bin/python3, stdlib only).
  - does NOT cover: kernel exploits; world-readable files outside the masked dirs are readable
    if the hook is bypassed (the uid is unprivileged, not chrooted); /tmp and /dev/shm are the
    host's (writes there are blocked only by the hook); no cgroup, so memory is per-process
    (RLIMIT_AS) and not per-run.

`get_sandbox("auto")` picks "namespaces" when a probe run succeeds, else "rlimits" (probed once
per process). Asking for "namespaces" where it does not work raises SandboxError.
"""
from __future__ import annotations

from flowforge.sandbox.core import Limits, ProcessSandbox, Sandbox, get_sandbox
from flowforge.types import ExecResult

__all__ = ["Limits", "Sandbox", "ProcessSandbox", "get_sandbox", "run_tests", "arun", "arun_tests", "run_workflow"]


def _box(limits: Limits | None) -> ProcessSandbox:
    return get_sandbox((limits or Limits()).isolation)


def run_tests(program: str, tests: str | list[str], *, entry_point: str | None = None,
              limits: Limits | None = None) -> ExecResult:
    """Program + tests in ONE sandboxed process. success iff every test passes; result is
    {"passed": k, "total": n}; message names the first failing test. Tests are assert statements
    (each top-level assert, or each list item, is one test) or a HumanEval `def check(candidate)`,
    which is called as check(<entry_point>)."""
    return _box(limits).run_tests(program, tests, entry_point=entry_point, limits=limits)


async def arun(code: str, limits: Limits | None = None, stdin: str | None = None) -> ExecResult:
    """Sandbox.run without blocking the event loop."""
    return await _box(limits).arun(code, limits, stdin)


async def arun_tests(program: str, tests: str | list[str], *, entry_point: str | None = None,
                     limits: Limits | None = None) -> ExecResult:
    """run_tests without blocking the event loop."""
    return await _box(limits).arun_tests(program, tests, entry_point=entry_point, limits=limits)


async def run_workflow(source: str, problem: str, call_op, *, limits: Limits | None = None) -> ExecResult:
    """Run a workflow's `async def solve(problem, ops)` in a sandboxed child with restricted builtins.
    Each `await ops.<name>(**kwargs)` in the child becomes `await call_op(name, kwargs)` here
    (concurrently; JSON-able values). An exception from call_op is raised in the child as
    OperatorError(message). result = str(solve's return value)."""
    return await _box(limits).run_workflow(source, problem, call_op, limits=limits)
