"""Sandbox properties, one test each (the adversarial corpus lives in tests/adversarial/)."""
from __future__ import annotations

import asyncio
import os

import pytest

from flowforge.errors import SandboxError, UserError
from flowforge.sandbox import Limits, arun, arun_tests, get_sandbox, run_tests, run_workflow
from flowforge.sandbox.core import _probe

LEVELS = [lv for lv in ("bwrap", "unsafe-rlimits") if _probe(lv) is None]
FAST = Limits(wall_s=3)


@pytest.fixture(params=LEVELS)
def box(request):
    return get_sandbox(request.param)


def test_default_level_is_bwrap_and_works_here():
    assert Limits().isolation == "bwrap" and get_sandbox().level == "bwrap"
    assert "bwrap" in LEVELS, _probe("bwrap")


def test_missing_bwrap_is_one_line_naming_the_package(monkeypatch):
    import shutil

    import flowforge.sandbox.core as core

    core._probe.cache_clear()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    try:
        with pytest.raises(SandboxError) as e:
            core.get_sandbox("bwrap")
        assert "apt-get install bubblewrap" in str(e.value) and "\n" not in str(e.value)
    finally:
        monkeypatch.undo()
        core._probe.cache_clear()


def test_unsafe_level_is_explicit_and_loud(caplog, monkeypatch):
    import flowforge.sandbox.core as core

    monkeypatch.setattr(core, "_warned_unsafe", False)
    with caplog.at_level("WARNING"):
        box = get_sandbox("unsafe-rlimits")
    assert box.level == "unsafe-rlimits" and "UNSAFE SANDBOX" in caplog.text
    monkeypatch.setenv("FLOWFORGE_ISOLATION", "unsafe-rlimits")
    assert Limits().isolation == "unsafe-rlimits"


def test_bad_limits_are_user_errors():
    with pytest.raises(UserError, match="isolation"):
        Limits(isolation="docker")
    with pytest.raises(UserError, match="isolation"):
        Limits(isolation="auto")
    with pytest.raises(UserError, match="wall_s"):
        Limits(wall_s=0)


def test_pass_stdout_stdin(box):
    r = box.run("import sys\nprint(sys.stdin.read().upper())", FAST, stdin="hello")
    assert r.success and r.stdout == "HELLO\n" and r.error is None and not r.timeout


def test_failure_has_class_and_message(box):
    r = box.run("raise KeyError('missing')", FAST)
    assert not r.success and r.error == "KeyError" and "missing" in r.message and not r.timeout


@pytest.mark.integration
def test_timeout_is_its_own_outcome(box):
    r = box.run("import time\ntime.sleep(60)", Limits(wall_s=1))
    assert r.timeout and r.error == "Timeout" and not r.success and r.seconds < 4


def test_memory_exceeded(box):
    r = box.run("x = bytearray(4 << 30)", Limits(wall_s=3, memory_mb=256))
    assert r.memory_exceeded and r.error == "MemoryError"


def test_output_capped(box):
    r = box.run("while True:\n    print('x' * 1000)", Limits(wall_s=5, max_output_bytes=5000))
    assert r.error == "OutputLimitExceeded" and len(r.stdout) <= 5000


@pytest.mark.timeout(60)
def test_output_flood_past_the_readers_pause_mark_still_ends(box):
    # A 1 MiB pipe lets one read put 256 KiB in the host's stream buffer, past the point where
    # asyncio stops reading; the run must still end, as OutputLimitExceeded, not hang on its pipes.
    flood = "import fcntl, os, time\nfcntl.fcntl(1, 1031, 1 << 20)\nos.write(1, b'z' * (1 << 20))\ntime.sleep(30)"
    r = box.run(flood, Limits(wall_s=3, max_output_bytes=1000))
    assert r.error == "OutputLimitExceeded" and len(r.stdout) == 1000 and r.seconds < 20


def test_env_scrubbed_and_scratch_cwd(box, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-pass")
    r = box.run("import os\nprint(sorted(os.environ))\nprint(os.getcwd())\nopen('f', 'w').write('ok')", FAST)
    assert r.success, r.message
    assert "OPENAI_API_KEY" not in r.stdout and "sk-should" not in r.stdout
    cwd = r.stdout.splitlines()[1]
    assert cwd == "/work" if box.level == "bwrap" else ("ffsbx-" in cwd and not os.path.exists(cwd))


def test_sys_exit_zero_is_success_os_exit_is_not(box):
    assert box.run("import sys\nsys.exit(0)", FAST).success
    r = box.run("import os\nos._exit(0)", FAST)
    assert not r.success and r.error == "EarlyExit"


def test_verdict_cannot_be_forged_from_stdout(box):
    r = box.run("print(\"{'ok': True}\")\nraise ValueError('real')", FAST)
    assert not r.success and r.error == "ValueError"


def test_bwrap_view_of_the_machine():
    """uid 65534, no network but a down loopback, only /usr and the scratch dir from the host,
    a private /tmp, no host processes."""
    code = ("import os\nprint(os.getuid(), os.getgid())\nprint(sorted(os.listdir('/')))\n"
            "print(open('/proc/net/dev').read().split('\\n')[2:])\n"
            "print(sorted(p for p in os.listdir('/proc') if p.isdigit()))\nprint(os.listdir('/tmp'))")
    box = get_sandbox("bwrap")
    box.read_roots = ("/", "/proc", "/tmp") + box.read_roots  # the audit hook lets it look; the OS view is tested
    r = box.run(code, FAST)
    assert r.success, r.message
    lines = r.stdout.splitlines()
    assert lines[0] == "65534 65534"
    assert set(eval(lines[1])) <= {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "proc", "dev", "tmp", "work"}
    assert [ln.split(":")[0].strip() for ln in eval(lines[2]) if ln.strip()] == ["lo"]
    assert len(eval(lines[3])) <= 3  # bwrap's init, python and nothing of the host
    assert eval(lines[4]) == []


@pytest.mark.integration
def test_bwrap_memory_is_bounded_per_run_by_the_kernel():
    """A memfd is not address space: only the cgroup stops it."""
    box = get_sandbox("bwrap")
    if box.cgroups is None:
        pytest.skip("no writable memory cgroup here")
    code = "import os\nfd = os.memfd_create('x')\nfor _ in range(150):\n    os.write(fd, b'x' * (10 << 20))\nprint('ESCAPED')"
    r = box.run(code, Limits(wall_s=10, memory_mb=256, file_size_mb=4096))  # so RLIMIT_FSIZE does not stop it first
    assert not r.success and "ESCAPED" not in r.stdout and r.memory_exceeded, (r.error, r.message)


def test_run_tests_asserts_counts_and_first_failure():
    r = run_tests("def f(x):\n    return x * 2", "assert f(1) == 2\nassert f(2) == 5\nassert f(3) == 7", limits=FAST)
    assert not r.success and r.result == {"passed": 1, "total": 3}
    assert r.message.startswith("test 2 failed: assert f(2) == 5")


def test_run_tests_list_and_setup_lines():
    tests = ["import math\nassert f(4) == math.sqrt(16) * 2", "assert f(0) == 0"]
    r = run_tests("def f(x):\n    return x * 2", tests, limits=FAST)
    assert r.success and r.result == {"passed": 2, "total": 2}


def test_run_tests_humaneval_check():
    check = "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(-1) == 1\n"
    assert run_tests("def sq(x):\n    return x * x", check, entry_point="sq", limits=FAST).success
    bad = run_tests("def sq(x):\n    return x + 3", check, entry_point="sq", limits=FAST)
    assert not bad.success and bad.result == {"passed": 0, "total": 1} and "check(sq)" in bad.message
    with pytest.raises(UserError, match="entry_point"):
        run_tests("def sq(x): return x", check)


@pytest.mark.integration
def test_run_tests_program_crash_and_timeout():
    r = run_tests("raise ImportError('nope')", ["assert True"], limits=FAST)
    assert not r.success and r.error == "ImportError" and r.result == {"passed": 0, "total": 1}
    r = run_tests("def f():\n    while True: pass", ["assert True", "f()"], limits=Limits(wall_s=1))
    assert r.timeout and r.result == {"passed": 1, "total": 2}


@pytest.mark.integration
async def test_async_variants_run_concurrently():
    import time

    t = time.monotonic()
    rs = await asyncio.gather(*[arun("import time\ntime.sleep(0.5)\nprint(1)", FAST) for _ in range(4)])
    assert all(r.success for r in rs) and time.monotonic() - t < 1.9
    r = await arun_tests("def f(): return 1", ["assert f() == 1"], limits=FAST)
    assert r.success


async def test_run_workflow_ops_roundtrip_concurrency_and_operator_error():
    seen, active, peak = [], [0], [0]

    async def call_op(name, kwargs):
        seen.append((name, kwargs))
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await asyncio.sleep(0.1)
        active[0] -= 1
        if name == "fail":
            raise RuntimeError("backend down")
        return {"answer": kwargs["input"] * 2}

    src = (
        "async def solve(problem, ops):\n"
        "    rs = await asyncio.gather(*[ops.gen(input=problem) for _ in range(3)])\n"
        "    try:\n"
        "        await ops.fail(input='x')\n"
        "    except OperatorError as e:\n"
        "        return [r['answer'] for r in rs] + [str(e)]\n"
    )
    r = await run_workflow(src, "ab", call_op, limits=FAST)
    assert r.success, r.message
    assert r.result == str(["abab"] * 3 + ["RuntimeError: backend down"])
    assert peak[0] == 3 and len(seen) == 4


@pytest.mark.integration
async def test_run_workflow_crash_and_timeout():
    async def call_op(name, kwargs):
        return "x"

    r = await run_workflow("async def solve(problem, ops):\n    return 1 / 0\n", "p", call_op, limits=FAST)
    assert not r.success and r.error == "ZeroDivisionError"
    r = await run_workflow("async def solve(problem, ops):\n    while True:\n        pass\n", "p", call_op,
                           limits=Limits(wall_s=1))
    assert r.timeout
    r = await run_workflow("x = 1\n", "p", call_op, limits=FAST)
    assert not r.success and "solve" in r.message


def test_sync_run_inside_event_loop():
    async def inner():
        return get_sandbox("bwrap").run("print(2)", FAST)

    assert asyncio.run(inner()).stdout == "2\n"


@pytest.fixture
def slow_child_watcher(monkeypatch):
    """asyncio's ThreadedChildWatcher, but its waitpid thread starts 0.3 s late: what a loaded machine
    does to it. Anything else that reaps our child in that window makes asyncio log
    "Unknown child process pid N, will report returncode 255" and report 255 as the exit code."""
    import time
    from asyncio import unix_events

    real = unix_events.ThreadedChildWatcher._do_waitpid

    def late(self, *args):
        time.sleep(0.3)
        return real(self, *args)

    monkeypatch.setattr(unix_events.ThreadedChildWatcher, "_do_waitpid", late)


@pytest.mark.integration
async def test_kill_never_reaps_behind_the_child_watcher(slow_child_watcher, caplog):
    from flowforge.sandbox.core import _kill

    proc = await asyncio.create_subprocess_exec("sh", "-c", "exit 3", start_new_session=True)
    await asyncio.sleep(0.15)  # the child is a zombie now; the watcher is not waiting yet
    _kill(proc)  # e.g. the wall clock fired just as the child exited
    assert await proc.wait() == 3
    assert not [r for r in caplog.records if "Unknown child process" in r.getMessage()]


@pytest.mark.integration
async def test_concurrent_async_and_sync_runs_keep_true_exit_codes(slow_child_watcher, caplog):
    # The `train synth` shape: many sandboxed runs on the main loop (some killed by the wall clock,
    # some cancelled from outside) while scorer threads call the sync API (its own loop per thread).
    async def cancelled():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(arun("import time\ntime.sleep(30)", Limits(wall_s=10)), 2)
        return "cancelled"

    slow = Limits(wall_s=2)  # generous: the child must start (and report ready) under load
    sleeper = ("import time\ntime.sleep(30)", slow)
    rs = await asyncio.gather(
        *[arun(*sleeper) for _ in range(4)], *[cancelled() for _ in range(3)],
        *[asyncio.to_thread(run_tests, "import os\nos._exit(3)", ["assert True"], limits=FAST) for _ in range(2)],
        asyncio.to_thread(run_tests, "def f():\n    import time; time.sleep(30)", ["f()"], limits=slow),
        arun("import os\nos._exit(5)", FAST), arun("print(7)", FAST))
    assert [r.error for r in rs[:4]] == ["Timeout"] * 4 and rs[4:7] == ["cancelled"] * 3
    assert [r.error for r in rs[7:9]] == ["EarlyExit"] * 2 and all("ended before answering" in r.message for r in rs[7:9])
    assert rs[9].timeout and rs[9].result == {"passed": 0, "total": 1}
    assert rs[10].error == "EarlyExit" and "code 5)" in rs[10].message
    assert rs[11].success and rs[11].stdout == "7\n"
    assert not [r for r in caplog.records if "Unknown child process" in r.getMessage()]


# ---- verdicts computed where the program cannot reach --------------------------------------


@pytest.mark.parametrize("program", [
    "class E:\n    def __eq__(s, o): return True\n    def __ne__(s, o): return False\ndef f(x):\n    return E()",
    "def f(x):\n    return 0\nimport builtins\nbuiltins.compile = lambda *a, **k: compile('pass', 't', 'exec')",
    "def f(x):\n    return 0\n__builtins__.__dict__['AssertionError'] = type('N', (Exception,), {})",
    "import os\nos._exit(0)",
    "def f(x):\n    import os\n    os._exit(0)",
    "print(\"{'ok': True, 'passed': 1, 'total': 1}\")\ndef f(x):\n    return 0",
    "def f(x):\n    raise SystemExit(0)",
])
@pytest.mark.integration
def test_forged_verdicts_score_zero(program):
    r = run_tests(program, ["assert f(1) == 2"], limits=FAST)
    assert not r.success and r.result == {"passed": 0, "total": 1}, r


def test_plain_values_cross_with_their_types():
    program = ("def f():\n    return (1, 2.5, 'a', b'b', None, True, [1], {2}, frozenset({3}), {'k': (4,)}, 1j, range(3))\n"
               "def g(xs):\n    return (x * 2 for x in xs)\n")
    tests = ["assert f() == (1, 2.5, 'a', b'b', None, True, [1], {2}, frozenset({3}), {'k': (4,)}, 1j, range(3))",
             "assert type(f()[0]) is int and type(f()[-1]) is range",
             "assert list(g([1, 2])) == [2, 4]"]
    r = run_tests(program, tests, limits=FAST)
    assert r.success, r.message


@pytest.mark.integration
def test_unplain_and_too_deep_values_fail_the_test():
    r = run_tests("def f():\n    x = []\n    for _ in range(600):\n        x = [x]\n    return x", ["assert f()"], limits=FAST)
    assert not r.success and "deep" in r.message
    r = run_tests("class T:\n    def __eq__(s, o): return True\ndef f():\n    return T()",
                  ["assert f()", "assert f() != 1", "assert not (f() == 1)"], limits=FAST)
    assert r.result == {"passed": 3, "total": 3}, r.message  # opaque: truthy, equal to nothing


def test_run_tests_setup_runs_in_the_tests_process():
    r = run_tests("def f(x):\n    return x ** 0.5", ["assert math.isclose(f(2), math.sqrt(2))"],
                  setup="import math\n", limits=FAST)
    assert r.success, r.message


# ---- the channel and the clock ---------------------------------------------------------------


@pytest.mark.integration
async def test_deep_or_huge_operator_arguments_are_refused_not_fatal():
    seen = []

    async def call_op(name, kwargs):
        seen.append(name)
        return "ok"

    src = ("async def solve(problem, ops):\n    x = []\n    for i in range(600):\n        x = [x]\n"
           "    out = []\n    for arg in (x, 'y' * (2 << 20), 'fine'):\n        try:\n"
           "            out.append(await ops.calculate(expression=arg))\n"
           "        except OperatorError as e:\n            out.append(str(e)[:40])\n    return out\n")
    r = await run_workflow(src, "p", call_op, limits=FAST)
    assert r.success, r.message
    assert seen == ["calculate"]  # only the bounded call reached the host's operator
    assert "calculate: arguments must be" in r.result and "calculate: arguments larger" in r.result
    assert r.result.endswith("'ok']")


@pytest.mark.integration
async def test_wall_clock_pauses_while_waiting_on_the_backend():
    waited = [0.0]

    async def call_op(name, kwargs):  # a backend that takes 2.5 s, on a 1.5 s compute budget
        await asyncio.sleep(2.5)
        waited[0] += 2.5
        return "late but fine"

    src = "async def solve(problem, ops):\n    return await ops.answer(input=problem)\n"
    lim = Limits(wall_s=1.5)
    r = await run_workflow(src, "p", call_op, limits=lim, paused=lambda: waited[0] or 2.5)
    assert r.success and r.result == "late but fine", r.message
    r = await run_workflow(src, "p", call_op, limits=lim)  # without the pause the same wait is a timeout
    assert r.timeout


def test_a_sandbox_that_cannot_start_is_an_error_not_a_failing_program(monkeypatch):
    import flowforge.sandbox.core as core

    monkeypatch.setattr(core, "_bootstrap_code", lambda python: b"not a code object")
    box = get_sandbox("bwrap")
    with pytest.raises(SandboxError, match="failed to start"):
        box.run_tests("def f():\n    return 1", ["assert f() == 1"], limits=FAST)
    with pytest.raises(SandboxError, match="failed to start"):
        box.run("print(1)", FAST)



@pytest.mark.integration
async def test_a_cancel_while_the_child_starts_kills_all_of_it_and_ends_promptly(monkeypatch):
    # Ctrl-C landed while asyncio was connecting a child's pipes. asyncio then killed only the direct
    # child; a descendant still starting up (bwrap's inner process, before it arms die-with-parent)
    # kept the pipes open, the transport waited for them forever, and `flowforge run` hung.
    import time
    from asyncio import base_subprocess

    from flowforge.sandbox.core import ProcessSandbox

    real, connecting = base_subprocess.BaseSubprocessTransport._connect_pipes, asyncio.Event()

    async def slow_connect(self, waiter):
        connecting.set()
        await asyncio.sleep(0.5)  # a loaded machine
        return await real(self, waiter)

    monkeypatch.setattr(base_subprocess.BaseSubprocessTransport, "_connect_pipes", slow_connect)
    monkeypatch.setattr(ProcessSandbox, "_command", lambda *a: ["sh", "-c", "sleep 30 & sleep 30"])

    async def call_op(name, kwargs):
        return "x"

    t0 = time.monotonic()
    run = asyncio.ensure_future(run_workflow("async def solve(problem, ops):\n    return 1\n", "p", call_op, limits=FAST))
    await asyncio.wait_for(connecting.wait(), 10)
    run.cancel()
    done, _ = await asyncio.wait({run}, timeout=15)
    assert done and run.cancelled() and time.monotonic() - t0 < 10
