"""Host side of the sandbox: Limits, the process sandbox, `get_sandbox`, the kernel's bounds.

Each run is a fresh `python -I -S -B` child (see _child.py) with a scrubbed env, a fresh scratch
dir as its cwd (deleted afterwards), the job on a private pipe and the verdict on another. At
level "bwrap" the child runs under bubblewrap as uid 65534 in fresh user, pid, net, ipc, uts and
mount namespaces (only /usr read-only, a private /tmp, the scratch dir at /work), started as a
fresh unprivileged host uid when we are root, inside a memory + pids cgroup where the kernel
lets us make one. The host enforces the wall clock, the output cap and the channel bounds, and
kills everything the run started when either is exceeded.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Awaitable, Callable

from flowforge.errors import SandboxError, UserError
from flowforge.types import ExecResult

LEVELS = ("bwrap", "unsafe-rlimits")
DEFAULT_LEVEL = "bwrap"
_CHILD_SOURCE = (Path(__file__).with_name("_child.py")).read_text()
# The job pipe starts with the bootstrap's code object (marshalled once per interpreter: compiling
# it in every child costs more than the rest of the start-up), length-prefixed, then the JSON job.
# The bootstrap runs in a private globals dict with a snapshot of builtins, so user code that
# patches the builtins module (or imports __main__) cannot reach or alter the harness.
_LOADER = """import marshal, os, sys
def _read(fd, n):
    b = b''
    while len(b) < n:
        c = os.read(fd, n - len(b))
        if not c:
            raise SystemExit('sandbox: truncated bootstrap')
        b += c
    return b
_fd = int(sys.argv[1])
_code = marshal.loads(_read(_fd, int.from_bytes(_read(_fd, 8), 'big')))
del _read, _fd
exec(_code, {'__builtins__': dict(__builtins__.__dict__), '__name__': '_sandbox'})
"""
MAX_CHANNEL_LINE = 8 << 20  # one line on a child's channel; longer is a flood -> kill
MAX_CHANNEL_TOTAL = 64 << 20  # all lines of one run
MAX_REQUEST_BYTES = 1 << 20  # one operator call's arguments, as JSON
MAX_DEPTH = 32  # nesting of operator-call arguments and candidate values seen by the host
MAX_IN_FLIGHT = 64  # concurrent operator calls from one child
START_TIMEOUT_S = 60.0  # from spawn to the harness's "ready": start-up is ours, not the code's wall time
BWRAP_PYTHON = "/usr/bin/python3"  # the interpreter inside the bwrap sandbox (stdlib only)
_log = logging.getLogger("flowforge.sandbox")

OpCaller = Callable[[str, dict], Awaitable[Any]]


def _default_level() -> str:
    return os.environ.get("FLOWFORGE_ISOLATION", DEFAULT_LEVEL)


@dataclass
class Limits:
    """Resource limits for one sandboxed run."""

    wall_s: float = 10.0
    cpu_s: float | None = None  # default: wall_s rounded up
    memory_mb: int = 1024  # per process (RLIMIT_AS) and per run (cgroup); Python needs ~30 MB
    max_output_bytes: int = 1_000_000  # stdout + stderr; beyond this the run is killed
    isolation: str = field(default_factory=_default_level)  # "bwrap" | "unsafe-rlimits"
    file_size_mb: int = 64  # RLIMIT_FSIZE and the size of the private /tmp
    max_procs: int = 32  # pids cgroup and RLIMIT_NPROC (threads count)

    def __post_init__(self):
        if self.isolation not in LEVELS:
            raise UserError(f"Limits.isolation: {self.isolation!r} is not one of {', '.join(LEVELS)}")
        for name in ("wall_s", "memory_mb", "max_output_bytes", "file_size_mb", "max_procs"):
            if getattr(self, name) <= 0:
                raise UserError(f"Limits.{name} must be > 0, got {getattr(self, name)!r}")
        if self.memory_mb < 64:
            raise UserError(f"Limits.memory_mb must be >= 64 (Python needs ~30 MB to start), got {self.memory_mb}")

    @property
    def cpu_limit(self) -> int:
        return max(1, int(-(-(self.cpu_s if self.cpu_s is not None else self.wall_s) // 1)))


# ---- kernel bounds: cgroups ------------------------------------------------------------------


class _Cgroups:
    """Per-run memory + pids cgroups (v2 where mounted, else v1), under a `flowforge` parent."""

    def __init__(self, v2: bool, parents: dict[str, Path]):
        self.v2, self.parents = v2, parents

    @staticmethod
    def detect() -> "_Cgroups | None":
        root = Path("/sys/fs/cgroup")
        try:
            if (root / "cgroup.controllers").exists():
                parent = root / "flowforge"
                parent.mkdir(exist_ok=True)
                have = (root / "cgroup.controllers").read_text().split()
                if not {"memory", "pids"} <= set(have):
                    return None
                (root / "cgroup.subtree_control").write_text("+memory +pids")
                (parent / "cgroup.subtree_control").write_text("+memory +pids")
                return _Cgroups(True, {"unified": parent}).sweep()
            parents = {}
            for ctl in ("memory", "pids"):
                if not (root / ctl / "cgroup.procs").exists():
                    return None
                parents[ctl] = root / ctl / "flowforge"
                parents[ctl].mkdir(exist_ok=True)
            return _Cgroups(False, parents).sweep()
        except OSError:
            return None

    def sweep(self) -> "_Cgroups":
        """Remove run cgroups an hour old that are empty (left by a process killed mid-cleanup)."""
        old = time.time() - 3600
        for parent in self.parents.values():
            for d in parent.glob("run-*"):
                try:
                    if d.stat().st_mtime < old:
                        d.rmdir()
                except OSError:
                    pass
        return self

    def create(self, name: str, limits: Limits) -> list[Path]:
        mem, pids = limits.memory_mb << 20, limits.max_procs + 8  # + bwrap's own processes
        dirs = []
        try:
            for p in self.parents.values():
                d = p / name
                d.mkdir()
                dirs.append(d)
            if self.v2:
                d = dirs[0]
                (d / "memory.max").write_text(str(mem))
                if (d / "memory.swap.max").exists():
                    (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(pids))
            else:
                m = self.parents["memory"] / name
                (m / "memory.limit_in_bytes").write_text(str(mem))
                if (m / "memory.memsw.limit_in_bytes").exists():
                    try:
                        (m / "memory.memsw.limit_in_bytes").write_text(str(mem))
                    except OSError:
                        pass  # swap accounting off
                (self.parents["pids"] / name / "pids.max").write_text(str(pids))
        except OSError as e:
            self.remove(dirs)
            raise SandboxError(f"cannot set up the run's cgroup: {e}") from e
        return dirs

    def oom_killed(self, dirs: list[Path]) -> bool:
        for d in dirs:
            for f in ("memory.events", "memory.oom_control"):
                try:
                    for line in (d / f).read_text().splitlines():
                        k, _, v = line.partition(" ")
                        if k == "oom_kill" and int(v) > 0:
                            return True
                except (OSError, ValueError):
                    pass
        return False

    @staticmethod
    def pids(dirs: list[Path]) -> list[int]:
        out = []
        for d in dirs:
            try:
                out += [int(p) for p in (d / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                pass
        return out

    @staticmethod
    def remove(dirs: list[Path]) -> bool:
        ok = True
        for d in dirs:
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
        return ok


@functools.lru_cache(maxsize=None)
def _cgroups() -> _Cgroups | None:
    if os.geteuid() != 0:
        return None
    cg = _Cgroups.detect()
    if cg is None:
        _log.warning("sandbox: no writable memory+pids cgroup here; memory is bounded per process "
                     "(RLIMIT_AS) and processes by RLIMIT_NPROC only")
    return cg


# ---- a global bound on concurrent sandboxed programs ----------------------------------------

_SLOTS = threading.BoundedSemaphore(int(os.environ.get("FLOWFORGE_SANDBOX_SLOTS", 0))
                                    or max(4, 2 * (os.cpu_count() or 1)))


async def _slot():
    """Wait for one of the global program slots (workflows do not take one: they mostly wait)."""
    while not _SLOTS.acquire(blocking=False):
        await asyncio.sleep(0.01)


# Blocking pipe writes to children (job payloads, operator replies) get threads of their own. In
# asyncio's default executor (cpu_count + 4 threads) they queued behind slow work such as code
# scoring, and a workflow whose job was not yet written ran out of time before it started.
# A write blocks at most until its child reads or dies, which each run's limits bound.
_PIPE_WRITES = ThreadPoolExecutor(max_workers=64, thread_name_prefix="sandbox-pipe")


# ---- the sandbox -----------------------------------------------------------------------------


class ProcessSandbox:
    """A fresh child process per run, at level "bwrap" or "unsafe-rlimits" (see the package docstring)."""

    def __init__(self, level: str):
        if level not in LEVELS:
            raise SandboxError(f"unknown isolation level {level!r}")
        self.level = level
        if level == "bwrap":
            self.python = BWRAP_PYTHON
            self.cgroups = _cgroups()
        else:
            self.python = sys.executable
            self.cgroups = None
        self.read_roots = _stdlib_roots(self.python)

    # -- command line -------------------------------------------------------------------------
    def _command(self, job_fd: int, uid: int | None, scratch: str, limits: Limits,
                 cgroup_dirs: list[Path]) -> list[str]:
        py = [self.python, "-I", "-S", "-B", "-c", _LOADER, str(job_fd)]
        if self.level == "unsafe-rlimits":
            return py
        argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--uid", "65534", "--gid", "65534",
                "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
        for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(d):
                argv += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                argv += ["--ro-bind", d, d]
        argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(limits.file_size_mb << 20),
                 "--tmpfs", "/tmp", "--bind", scratch, "/work", "--chdir", "/work", "--", *py]
        if uid is not None:
            argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                    "--inh-caps=-all", "--bounding-set=-all", "--", *argv]
        if cgroup_dirs:  # join the run's cgroups first, so everything after is bounded
            argv = ["/bin/sh", "-c", 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; '
                    'exec "$@"', "sh", *[str(d / "cgroup.procs") for d in cgroup_dirs], "--", *argv]
        return argv

    # -- public API ------------------------------------------------------------------------------
    def run(self, code: str, limits: Limits | None = None, stdin: str | None = None) -> ExecResult:
        return _sync(self.arun(code, limits, stdin))

    async def arun(self, code: str, limits: Limits | None = None, stdin: str | None = None) -> ExecResult:
        await _slot()
        try:
            res, _ = await self._execute({"mode": "run", "code": code}, limits or Limits(isolation=self.level), stdin)
        finally:
            _SLOTS.release()
        return res

    def run_tests(self, program: str, tests: str | list[str], *, entry_point: str | None = None,
                  setup: str = "", limits: Limits | None = None) -> ExecResult:
        return _sync(self.arun_tests(program, tests, entry_point=entry_point, setup=setup, limits=limits))

    async def arun_tests(self, program: str, tests: str | list[str], *, entry_point: str | None = None,
                         setup: str = "", limits: Limits | None = None) -> ExecResult:
        """The program in one child ("serve"), the tests in another ("tests"); each call from the
        tests to a program function crosses the host as plain data. The verdict comes only from
        the tests child, which the program cannot reach."""
        if not isinstance(tests, (str, list)) or (isinstance(tests, list) and not all(isinstance(t, str) for t in tests)):
            raise UserError("run_tests: tests must be a str or a list of str")
        joined = tests if isinstance(tests, str) else "\n".join(tests)
        if "def check(" in joined and not entry_point:
            raise UserError("run_tests: tests define check(candidate) but no entry_point was given")
        limits = limits or Limits(isolation=self.level)
        await _slot()
        try:
            cand = _Candidate()
            # The tests' wall clock decides a timeout; the program's process is stopped when they end.
            serve_limits = replace(limits, wall_s=limits.wall_s + START_TIMEOUT_S, cpu_s=None)
            cand.task = asyncio.ensure_future(self._execute({"mode": "serve", "program": program}, serve_limits, None,
                                                            on_start=cand.attach))
            try:
                job = {"mode": "tests", "tests": tests, "entry_point": entry_point, "setup": setup, "program": program}
                res, info = await self._execute(job, limits, None, call_op=cand.call_op)
            finally:
                cand.stop()
                served = (await asyncio.gather(cand.task, return_exceptions=True))[0]
            if isinstance(served, asyncio.CancelledError):  # stopped before it started: nothing to report
                served = None
            elif isinstance(served, BaseException):
                raise served if isinstance(served, SandboxError) else SandboxError(f"program process failed: {served!r}")
            else:
                served = served[0]
        finally:
            _SLOTS.release()
        total = info.get("total", len(tests) if isinstance(tests, list) else None)
        if res.result is None:
            res.result = {"passed": info.get("passed", 0), "total": total}
        if isinstance(served, ExecResult):  # what the program printed, and why it died if it did
            res.stdout, res.stderr = served.stdout, served.stderr
            res.memory_exceeded = res.memory_exceeded or served.memory_exceeded
            if not res.success and served.error in ("OutputLimitExceeded", "MemoryError", "ChannelFlood"):
                res.error, res.message = served.error, f"{served.message}; {res.message}"
        return res

    async def run_workflow(self, source: str, problem: str, call_op: OpCaller, *,
                           limits: Limits | None = None, paused: Callable[[], float] | None = None) -> ExecResult:
        lim = limits or Limits(isolation=self.level)
        job = {"mode": "workflow", "source": source, "problem": problem, "max_result_chars": lim.max_output_bytes}
        res, _ = await self._execute(job, lim, None, call_op=call_op, paused=paused)
        return res

    # -- one run ---------------------------------------------------------------------------------
    async def _execute(self, job: dict, limits: Limits, stdin: str | None, call_op: OpCaller | None = None,
                       on_start: Callable[["_Run"], None] | None = None,
                       paused: Callable[[], float] | None = None) -> tuple[ExecResult, dict]:
        t0 = time.monotonic()
        dropping = self.level == "bwrap" and os.geteuid() == 0
        scratch = tempfile.mkdtemp(prefix="ffsbx-", dir=_scratch_parent(dropping))
        uid = None
        if dropping:
            uid = 100_000 + secrets.randbelow(900_000)  # a fresh host uid per run: own NPROC, own files
            os.chown(scratch, uid, uid)
        nonce = secrets.token_hex(16)
        cg_dirs = self.cgroups.create(f"run-{nonce[:12]}", limits) if self.cgroups else []
        fds: list[int] = []
        job_r, job_w = os.pipe()
        res_r, res_w = os.pipe()
        fds += [job_r, job_w, res_r, res_w]
        rep_r = rep_w = None
        if call_op is not None or job["mode"] == "serve":
            rep_r, rep_w = os.pipe()
            fds += [rep_r, rep_w]
        job = dict(job, nonce=nonce, res_fd=res_w, rep_fd=rep_r, cpu_s=limits.cpu_limit,
                   memory_mb=limits.memory_mb, fsize_mb=limits.file_size_mb,
                   nproc=limits.max_procs if uid is not None else None,  # root ignores NPROC; a shared uid shares it
                   read_roots=self.read_roots)
        proc = None
        run = None
        try:
            boot = _bootstrap_code(self.python)
            payload = len(boot).to_bytes(8, "big") + boot + json.dumps(job).encode()
            env = _clean_env("/work" if self.level == "bwrap" else scratch)
            # A cancel while asyncio connects the child's pipes would leave the child unkillable and
            # unwaitable (its transport then waits forever for pipes it never connected), so the spawn
            # runs to its end and the cancel is re-raised once the child is ours to kill.
            spawned, cancelled = await _to_the_end(asyncio.create_subprocess_exec(
                *self._command(job_r, uid, scratch, limits, cg_dirs), cwd=scratch, env=env,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                pass_fds=[f for f in (job_r, res_w, rep_r) if f is not None], start_new_session=True))
            if cancelled and spawned.exception() is not None:
                raise asyncio.CancelledError
            try:
                proc = spawned.result()
            except OSError as e:
                raise SandboxError(f"cannot start sandbox process: {e}") from e
            for f in (job_r, res_w, rep_r):
                if f is not None:
                    os.close(f)
                    fds.remove(f)
            if cancelled:
                raise asyncio.CancelledError
            run = _Run(proc, nonce, limits, call_op, res_r, rep_w, mode=job["mode"], paused=paused,
                       cg_dirs=cg_dirs)
            # _Run owns res_r/rep_w, and go()'s feeder thread closes job_w even when go() is cancelled:
            # closing it here again could close a number already reused by a concurrent run's pipe.
            fds = [f for f in fds if f not in (res_r, rep_w, job_w)]
            if on_start is not None:
                on_start(run)
            await run.go(payload, job_w, stdin)
            oom = bool(cg_dirs) and self.cgroups.oom_killed(cg_dirs)
            return run.outcome(time.monotonic() - t0, oom)
        finally:
            # Cleanup runs to the end even when we are cancelled meanwhile; the cancel is re-raised after.
            cancelled = False
            for f in fds:
                try:
                    os.close(f)
                except OSError:
                    pass
            if proc is not None and proc.returncode is None:
                _kill(proc, cg_dirs)
                try:
                    await _reap(proc)
                except asyncio.CancelledError:
                    cancelled = True
            if cg_dirs:
                _kill_pids(_Cgroups.pids(cg_dirs))
                if not _Cgroups.remove(cg_dirs):  # the last processes are still exiting: off the caller's path
                    threading.Thread(target=_remove_when_empty, args=(cg_dirs,), daemon=True).start()
            shutil.rmtree(scratch, ignore_errors=True)
            if cancelled:
                raise asyncio.CancelledError


class _Candidate:
    """The host end of a "serve" child: forwards the tests child's calls, returns plain data."""

    def __init__(self):
        self.run: _Run | None = None
        self.task: asyncio.Future | None = None  # the serve child's _execute
        self.started = asyncio.Event()

    def attach(self, run: "_Run"):
        self.run = run
        self.started.set()

    def stop(self):
        if self.run is not None:
            self.run._kill("done")
        elif self.task is not None:
            self.task.cancel()

    async def call_op(self, op: str, kwargs: dict):
        started = asyncio.ensure_future(self.started.wait())
        await asyncio.wait({started, self.task}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        run = self.run
        if run is None:
            raise _Reply({"error": "EarlyExit", "message": "the program's process did not start"})
        if op == "names":
            return await run.loaded
        if op != "call":
            raise RuntimeError(f"unknown request {op!r}")
        return await run.request(kwargs)


class _Reply(Exception):
    """An error reply with extra fields for the child."""

    def __init__(self, fields: dict):
        super().__init__(fields.get("message", ""))
        self.fields = fields


class _Run:
    """Pumps one child's stdout/stderr/verdict channel, serves op calls, enforces wall + output."""

    def __init__(self, proc, nonce: str, limits: Limits, call_op, res_r: int, rep_w: int | None, *,
                 mode: str = "run", paused: Callable[[], float] | None = None, cg_dirs=()):
        self.proc, self.nonce, self.limits, self.call_op = proc, nonce, limits, call_op
        self.res_r, self.rep_w, self.paused, self.cg_dirs = res_r, rep_w, paused, list(cg_dirs)
        self.serve = mode == "serve"
        self.plain_replies = mode == "tests"  # replies to the tests child are {"id", **fields}
        self.out = {"stdout": bytearray(), "stderr": bytearray()}
        self.total_out = 0
        self.info: dict = {}
        self.killed_for: str | None = None
        self.ops: set[asyncio.Task] = set()
        self.rep_lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        self.loaded: asyncio.Future = loop.create_future()  # serve: the program's names, or its error
        self.replies: dict[int, asyncio.Future] = {}  # serve: request id -> reply
        self.next_id = 0
        self.ready_at: float | None = None  # the wall clock starts when the harness is ready

    def _kill(self, why: str):
        if self.killed_for is None:
            self.killed_for = why
        _kill(self.proc, self.cg_dirs)

    async def _pump_out(self, stream, name: str):
        """Read to EOF, keeping the first max_output_bytes. Past the cap it kills and keeps
        draining: a reader left unread stops asyncio reading the pipe, so its EOF would never
        arrive and `proc.wait()` (which waits for the pipes too) would never return."""
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            room = self.limits.max_output_bytes - self.total_out
            self.out[name] += chunk[:max(0, room)]
            self.total_out += len(chunk)
            if self.total_out > self.limits.max_output_bytes:
                self._kill("output")

    async def _pump_channel(self):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_CHANNEL_LINE, loop=loop)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                                                    os.fdopen(self.res_r, "rb", 0))
        seen = 0
        prefix = (self.nonce + " ").encode()
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    self._kill("channel")
                    return
                seen += len(line)
                if seen > MAX_CHANNEL_TOTAL:
                    self._kill("channel")
                    return
                if line.startswith(prefix):  # the harness (in serve mode only "ready", before user code)
                    msg = _parse_verdict(line[len(prefix):])
                    if isinstance(msg, dict):
                        self._on_msg(msg)
                elif self.serve:
                    self._on_candidate_line(line)
                elif self.call_op is not None:
                    self._on_op_request(line)
        finally:
            transport.close()
            self._candidate_gone()

    def _on_msg(self, msg: dict):
        t = msg.get("t")
        if t == "ready":
            self.info["ready"] = True
            self.ready_at = asyncio.get_running_loop().time()
        elif t == "plan":
            self.info["total"] = msg.get("total")
        elif t == "progress":
            self.info["passed"] = msg.get("passed", 0)
        elif "ok" in msg and "final" not in self.info:
            self.info["final"] = msg

    # -- serve mode: everything the candidate says is untrusted data ----------------------------
    def _on_candidate_line(self, line: bytes):
        msg, too_deep = _bounded_json(line, MAX_DEPTH * 3)
        if too_deep and isinstance(msg, dict):
            msg = {"id": msg.get("id"), "error": "Unplain", "message": "the program's value is nested too deeply"}
        if not isinstance(msg, dict):
            return
        if msg.get("t") == "loaded" and not self.loaded.done():
            if "error" in msg:
                self.loaded.set_result({"error": str(msg.get("error"))[:100], "message": str(msg.get("message"))[:2000]})
            else:
                names = msg.get("names")
                names = [n for n in names if isinstance(n, str)][:1000] if isinstance(names, list) else []
                self.loaded.set_result({"names": names})
            return
        fut = self.replies.pop(msg.get("id"), None) if isinstance(msg.get("id"), int) else None
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def _candidate_gone(self):
        why = {"output": "its output exceeded the limit", "channel": "it flooded its channel",
               "timeout": "the time limit"}.get(self.killed_for or "", "it exited or was killed")
        err = {"error": "EarlyExit", "message": f"the program's process ended before answering ({why})"}
        if not self.loaded.done():
            self.loaded.set_result(err)
        for fut in self.replies.values():
            if not fut.done():
                fut.set_exception(_Reply(err))
        self.replies.clear()

    async def request(self, kwargs: dict) -> dict:
        """Ask the candidate to call kwargs["name"]; the reply's value as plain JSON data."""
        if self.rep_w is None or self.killed_for is not None or self.proc.returncode is not None:
            raise _Reply({"error": "EarlyExit", "message": "the program's process ended before answering"})
        self.next_id += 1
        rid = self.next_id
        fut = asyncio.get_running_loop().create_future()
        self.replies[rid] = fut
        data = json.dumps({"id": rid, "name": kwargs.get("name"), "args": kwargs.get("args"),
                           "kwargs": kwargs.get("kwargs")}) + "\n"
        async with self.rep_lock:
            try:
                await asyncio.get_running_loop().run_in_executor(_PIPE_WRITES, _write_all, self.rep_w, data.encode())
            except OSError:
                pass  # gone: the channel pump fails the future
        reply = await fut
        if "error" in reply:
            raise _Reply({"error": str(reply.get("error"))[:100], "message": str(reply.get("message", ""))[:2000]})
        if "value" not in reply:
            raise _Reply({"error": "Unplain", "message": "the program's value is not plain data within the bounds"})
        return {"value": reply["value"]}

    # -- operator calls from the child -----------------------------------------------------------
    def _on_op_request(self, line: bytes):
        req, too_deep = _bounded_json(line, MAX_DEPTH + 2)
        if not isinstance(req, dict) or not isinstance(req.get("id"), int):
            return  # garbage from the child: ignore
        rid, op, kwargs = req["id"], req.get("op"), req.get("kwargs")
        if len(self.ops) >= MAX_IN_FLIGHT:  # a child flooding us with concurrent calls
            self._kill("ops")
            return
        if too_deep or not isinstance(op, str) or not isinstance(kwargs, dict):
            err = "arguments must be JSON data nested at most %d deep" % MAX_DEPTH
        elif len(line) > MAX_REQUEST_BYTES:
            err = "arguments larger than %d bytes" % MAX_REQUEST_BYTES
        else:
            err = None
        task = asyncio.ensure_future(self._serve_op(rid, op, kwargs, err))
        self.ops.add(task)
        task.add_done_callback(self.ops.discard)

    async def _serve_op(self, rid, op: str, kwargs: dict, refused: str | None):
        try:
            if refused is not None:
                raise ValueError(f"{op}: {refused}")
            result = await self.call_op(op, kwargs)
            data = json.dumps({"id": rid, **result} if self.plain_replies else {"id": rid, "result": result})
        except asyncio.CancelledError:
            raise
        except _Reply as e:
            data = json.dumps({"id": rid, **e.fields})
        except Exception as e:  # the operator failed: the workflow sees OperatorError(message)
            data = json.dumps({"id": rid, "error": f"{type(e).__name__}: {e}"})
        async with self.rep_lock:
            try:
                await asyncio.get_running_loop().run_in_executor(_PIPE_WRITES, _write_all, self.rep_w, (data + "\n").encode())
            except OSError:
                pass  # child gone

    async def go(self, payload: bytes, job_w: int, stdin: str | None):
        loop = asyncio.get_running_loop()
        feeder = loop.run_in_executor(_PIPE_WRITES, _write_and_close, job_w, payload)
        tasks = [asyncio.ensure_future(self._pump_out(self.proc.stdout, "stdout")),
                 asyncio.ensure_future(self._pump_out(self.proc.stderr, "stderr")),
                 asyncio.ensure_future(self._pump_channel())]
        if stdin is not None:
            tasks.append(asyncio.ensure_future(_feed_stdin(self.proc.stdin, stdin.encode())))
        waiter = asyncio.ensure_future(self.proc.wait())
        t0 = loop.time()
        try:
            while True:  # the wall clock stops while `paused` says we wait on someone else (the backend)
                if self.ready_at is None:
                    left, why = t0 + START_TIMEOUT_S - loop.time(), "start"
                else:
                    left = self.ready_at + self.limits.wall_s + (self.paused() if self.paused else 0.0) - loop.time()
                    why = "timeout"
                if left <= 0:
                    self._kill(why)
                    break
                done, _ = await asyncio.wait({waiter}, timeout=min(left, 0.5))
                if done or self.proc.returncode is not None:
                    break
            # Its exit status, not wait(): wait() also waits for the pipes, which a stray holder keeps open.
            while self.proc.returncode is None:
                await asyncio.wait({waiter}, timeout=0.05)
        finally:
            _kill(self.proc, self.cg_dirs)  # anything left in the group / namespace / cgroup
            for t in list(self.ops):
                t.cancel()
            try:
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)
            except asyncio.TimeoutError:
                for t in tasks:
                    t.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
            if self.rep_w is not None:
                try:
                    os.close(self.rep_w)
                except OSError:
                    pass
                self.rep_w = None

    def outcome(self, seconds: float, oom: bool = False) -> tuple[ExecResult, dict]:
        stdout = self.out["stdout"].decode("utf-8", "replace")
        stderr = self.out["stderr"].decode("utf-8", "replace")
        base = dict(stdout=stdout, stderr=stderr, seconds=seconds)
        final, rc, why = self.info.get("final"), self.proc.returncode, self.killed_for
        if rc is not None and rc > 128:
            rc = -(rc - 128)  # bwrap reports a signal as 128+N
        partial = None
        if "total" in self.info:
            partial = {"passed": self.info.get("passed", 0), "total": self.info["total"]}
        if self.serve:  # a candidate never reports a verdict; only why it stopped, if it failed
            if not self.info.get("ready") and why != "done":  # "done": the tests ended before it was up
                raise SandboxError(f"sandbox failed to start (exit {rc}); stderr: {stderr[-500:].strip()}")
            if why in (None, "done") and not oom:
                return ExecResult(True, **base), self.info
            error = {"output": "OutputLimitExceeded", "channel": "ChannelFlood", "timeout": "Timeout"}.get(why, "MemoryError")
            return ExecResult(False, error=error, message=f"the program was stopped: {error}",
                              memory_exceeded=oom, **base), self.info
        if oom and final is None:
            return ExecResult(False, error="MemoryError", message=f"memory limit of {self.limits.memory_mb} MB exceeded "
                              "(killed by the kernel)", memory_exceeded=True, result=partial, **base), self.info
        if why == "start":
            raise SandboxError(f"sandbox did not start within {START_TIMEOUT_S:g}s; stderr: {stderr[-500:]}")
        if why == "timeout":
            return ExecResult(False, error="Timeout", message=f"wall time limit of {self.limits.wall_s}s exceeded",
                              timeout=True, result=partial, **base), self.info
        if why == "output":
            return ExecResult(False, error="OutputLimitExceeded", result=partial,
                              message=f"output exceeded max_output_bytes={self.limits.max_output_bytes}", **base), self.info
        if why in ("channel", "ops"):
            return ExecResult(False, error="ChannelFlood", result=partial,
                              message="the code flooded the sandbox control channel", **base), self.info
        if final is not None:
            ok = bool(final.get("ok"))
            result = final.get("result")
            if "total" in final:
                result = {"passed": final.get("passed", 0), "total": final["total"]}
            return ExecResult(ok, result=result, error=None if ok else str(final.get("error")),
                              message="" if ok else str(final.get("message", "")),
                              memory_exceeded=bool(final.get("memory")), **base), self.info
        if not self.info.get("ready"):
            raise SandboxError(f"sandbox failed to start (exit {rc}); stderr: {stderr[-500:].strip()}")
        if rc is not None and rc in (-signal.SIGXCPU, -signal.SIGKILL) and why is None:
            return ExecResult(False, error="Timeout", message=f"CPU time limit of {self.limits.cpu_limit}s exceeded",
                              timeout=True, result=partial, **base), self.info
        if rc is not None and rc < 0:
            name = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
            return ExecResult(False, error="Crash", message=f"killed by {name}", result=partial, **base), self.info
        return ExecResult(False, error="EarlyExit", result=partial,
                          message=f"process exited (code {rc}) before reporting a result", **base), self.info


# ---- bounded parsing of what crosses the channel ---------------------------------------------

def _depth(x, limit: int = 10_000) -> int:
    """Nesting depth of a JSON value, iteratively (no recursion, stops counting past `limit`)."""
    best, stack = 0, [(x, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            best = max(best, d)
            if best > limit:
                return best
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return best


def _bounded_json(line: bytes, max_depth: int) -> tuple[Any, bool]:
    """(JSON value from a child or None, whether it nests deeper than max_depth). A too-deep
    value comes back as {"id": its id} only, so nothing downstream ever walks it."""
    try:
        v = json.loads(line)
    except (ValueError, RecursionError, MemoryError):
        return None, False
    if _depth(v, max_depth) > max_depth:
        if not isinstance(v, dict):
            return None, True
        return {k: v[k] for k in ("id", "op") if isinstance(v.get(k), (int, str))}, True
    return v, False


def _parse_verdict(text: bytes):
    """A verdict line's dict of plain values (written by the harness as a repr)."""
    import ast

    try:
        return ast.literal_eval(text.decode("utf-8", "replace"))
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None


# ---- process plumbing ------------------------------------------------------------------------


def _write_all(fd: int, data: bytes):
    while data:
        data = data[os.write(fd, data):]


def _write_and_close(fd: int, data: bytes):
    try:
        _write_all(fd, data)
    except OSError:
        pass  # child died before reading its job
    finally:
        os.close(fd)


async def _feed_stdin(stream, data: bytes):
    try:
        stream.write(data)
        await stream.drain()
        stream.close()
    except (BrokenPipeError, ConnectionResetError):
        pass


def _descendants(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                out += kids
                stack += kids
        except (OSError, ValueError):
            pass
    return out


def _remove_when_empty(dirs: list[Path], tries: int = 500):
    for _ in range(tries):
        _kill_pids(_Cgroups.pids(dirs))
        if _Cgroups.remove(dirs):
            return
        time.sleep(0.02)


def _kill_pids(pids: list[int]):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _kill(proc, cg_dirs=()):
    """SIGKILL the child, its process group, every descendant (a setsid'd one included) and
    everything in its cgroups.

    Signals only, never a reap: asyncio's child watcher must be the one to waitpid() the child.
    (`proc.kill()` would go through Popen.send_signal, whose poll() reaps a child that has just
    died; the watcher then logs "Unknown child process pid N, will report returncode 255" and the
    run sees exit code 255.) The child leads its own process group, so killpg reaches it."""
    _kill_pids(_descendants(proc.pid))
    if cg_dirs:
        _kill_pids([p for p in _Cgroups.pids(list(cg_dirs)) if p != proc.pid])
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if proc.returncode is None:  # unreaped, so the pid is still ours
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except OSError:
            pass


async def _to_the_end(aw) -> tuple[asyncio.Future, bool]:
    """Run `aw` to its end even if we are cancelled meanwhile: (its finished future, whether we were)."""
    fut = asyncio.ensure_future(aw)
    cancelled = False
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            cancelled = True
        except BaseException:
            pass  # fut's own failure: the caller reads it from fut
    return fut, cancelled


async def _reap(proc):
    """Wait for a killed child even if we are cancelled meanwhile (then re-raise the cancel).
    Abandoning it would let the transport's close() poll() -- i.e. reap -- it behind the watcher."""
    _, cancelled = await _to_the_end(proc.wait())
    if cancelled:
        raise asyncio.CancelledError


def _scratch_parent(dropping: bool) -> str:
    """Where scratch dirs go: the temp dir, unless a dropped uid could not reach into it (bwrap
    opens the scratch path as that uid); then a root-owned 0711 dir of our own."""
    base = tempfile.gettempdir()
    if not dropping:
        return base
    p = Path(base).resolve()
    if all(os.stat(d).st_mode & 0o001 for d in [p, *p.parents]):
        return base
    own = Path("/tmp/flowforge-sandbox")
    own.mkdir(mode=0o711, exist_ok=True)
    st = os.lstat(own)
    if st.st_uid != 0 or not os.path.isdir(own) or os.path.islink(own):
        raise SandboxError(f"{own} is not a root-owned directory; remove it")
    os.chmod(own, 0o711)
    return str(own)


def _clean_env(home: str) -> dict[str, str]:
    # Nothing from the parent passes: no API keys, no PYTHON*, no proxies.
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


@functools.lru_cache(maxsize=None)
def _bootstrap_code(python: str) -> bytes:
    """_child.py compiled and marshalled by `python` itself (marshal is per interpreter version)."""
    import marshal

    if python == sys.executable:
        return marshal.dumps(compile(_CHILD_SOURCE, "<sandbox>", "exec"))
    try:
        return subprocess.run([python, "-I", "-S", "-B", "-c", "import marshal, sys; sys.stdout.buffer.write("
                               "marshal.dumps(compile(sys.stdin.read(), '<sandbox>', 'exec')))"],
                              input=_CHILD_SOURCE.encode(), capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise SandboxError(f"cannot compile the sandbox bootstrap with {python}: {e}") from e


@functools.lru_cache(maxsize=None)
def _stdlib_roots(python: str) -> tuple[str, ...]:
    """The stdlib dirs of `python` (what the audit hook lets it read besides its scratch dir)."""
    if python == sys.executable:
        import sysconfig

        paths = sysconfig.get_paths()
        return tuple(sorted({paths["stdlib"], paths["platstdlib"]}))
    try:
        out = subprocess.run([python, "-I", "-S", "-c", "import sysconfig as s; p = s.get_paths(); "
                              "print(p['stdlib']); print(p['platstdlib'])"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise SandboxError(f"cannot run the sandbox interpreter {python}: {e}") from e
    return tuple(sorted(set(out.split())))


# ---- choosing a level ------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _probe(level: str) -> str | None:
    """None if `level` works here, else why not (one line). Runs a real sandboxed snippet once per process."""
    if level == "unsafe-rlimits":
        return None
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    if not os.access(BWRAP_PYTHON, os.X_OK):
        return f"{BWRAP_PYTHON} is missing (apt-get install python3-minimal)"
    try:
        sb = ProcessSandbox(level)
        res = sb.run("import os\nassert os.getuid() == 65534\nassert not os.path.exists('/root')",
                     Limits(wall_s=20, isolation=level))
    except SandboxError as e:
        return str(e).splitlines()[0] if str(e) else "probe failed"
    if not res.success:
        return f"probe failed: {res.error}: {res.message} {res.stderr[-300:].strip()}".splitlines()[0]
    return None


_warned_unsafe = False


def get_sandbox(isolation: str | None = None) -> ProcessSandbox:
    """The sandbox for `isolation` (default: $FLOWFORGE_ISOLATION, else "bwrap"). A level that does
    not work here raises SandboxError with the reason; there is never a silent downgrade."""
    global _warned_unsafe
    isolation = isolation or _default_level()
    if isolation not in LEVELS:
        raise SandboxError(f"unknown isolation {isolation!r}; use {' or '.join(LEVELS)}")
    why = _probe(isolation)
    if why is not None:
        raise SandboxError(f"sandbox isolation {isolation!r} is not available: {why}")
    if isolation == "unsafe-rlimits" and not _warned_unsafe:
        _warned_unsafe = True
        _log.warning("UNSAFE SANDBOX: isolation='unsafe-rlimits' runs model-written code with this process's "
                     "uid (%s), network and filesystem, behind an in-process audit hook only. Use it only "
                     "where bubblewrap cannot run, on a machine you can afford to lose.", os.geteuid())
    return ProcessSandbox(isolation)


def _sync(coro):
    """Run a coroutine to completion from sync code, even when called inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}

    def target():
        try:
            box["v"] = asyncio.run(coro)
        except BaseException as e:  # re-raised in the caller's thread
            box["e"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]
