"""Adversarial corpus (issue 8): hostile programs the sandbox must contain.

Each case is (name, kind, code, expect, limits). kind "run" -> Sandbox.run, "wf" -> run_workflow,
"tests" -> run_tests(code, tests, entry_point): a wrong program must not pass its tests.
`levels`: where the case must be contained; cases that defeat the in-process audit hook are
contained only by the OS (level "bwrap"), see SECURITY.md.
Placeholders filled by harness.py: {PORT} (a live listener), {SSH_KEY}, {SSH_DIR}, {CANARY},
{CANARY_DIR}, {PWNED} (must never be created), {REPO_FILE}. A case that manages its harmful
action prints ESCAPED. expect: "fail" (must not succeed), "timeout", "memory", "any" (only the
host checks apply: no ESCAPED, no secret, canaries intact, no leftover process, listener idle).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Case:
    name: str
    kind: str
    code: str
    expect: str = "fail"
    limits: dict = field(default_factory=dict)
    tests: list | str | None = None
    entry_point: str | None = None
    levels: tuple = ("bwrap", "unsafe-rlimits")
    cls: str = "escape"  # the issue-14 class a case belongs to (forged_verdict, hook_bypass, memory, ...)


def wf(body: str) -> str:
    return "async def solve(problem, ops):\n" + "".join("    " + ln + "\n" for ln in body.splitlines())


CATCH = "[c for c in ().__class__.__bases__[0].__subclasses__() if c.__name__ == 'catch_warnings'][0]()._module.__builtins__['__import__']"

CASES = [
    # network
    Case("net_socket_connect", "run", "import socket\ns = socket.create_connection(('127.0.0.1', {PORT}), 1)\nprint('ESCAPED')"),
    Case("net_raw__socket", "run", "import _socket\ns = _socket.socket()\ns.connect(('127.0.0.1', {PORT}))\nprint('ESCAPED')"),
    Case("net_urllib", "run", "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{PORT}/', timeout=1)\nprint('ESCAPED')"),
    Case("net_http_client", "run", "import http.client\nc = http.client.HTTPConnection('127.0.0.1', {PORT}, timeout=1)\nc.request('GET', '/')\nprint('ESCAPED')"),
    Case("net_dns_getaddrinfo", "run", "import socket\nprint('ESCAPED', socket.getaddrinfo('localhost', 80))"),
    Case("net_asyncio", "run", "import asyncio\nasyncio.run(asyncio.open_connection('127.0.0.1', {PORT}))\nprint('ESCAPED')"),
    # reading secrets / host files
    Case("read_etc_passwd", "run", "print('ESCAPED', open('/etc/passwd').read())"),
    Case("read_ssh_key", "run", "print('ESCAPED', open('{SSH_KEY}').read())"),
    Case("read_ssh_pathlib", "run", "import pathlib\nprint('ESCAPED', pathlib.Path('{SSH_KEY}').read_text())"),
    Case("list_ssh_dir", "run", "import os\nprint('ESCAPED', os.listdir('{SSH_DIR}'))"),
    Case("read_repo_file", "run", "print('ESCAPED', open('{REPO_FILE}').read()[:80])"),
    Case("read_os_open", "run", "import os\nfd = os.open('/etc/passwd', os.O_RDONLY)\nprint('ESCAPED', os.read(fd, 100))"),
    Case("read_fileio", "run", "import io\nprint('ESCAPED', io.FileIO('{CANARY}').read())"),
    Case("read_proc_self_environ", "run", "print('ESCAPED', open('/proc/self/environ', 'rb').read())"),
    Case("read_parent_environ", "run", "import os\nprint('ESCAPED', open('/proc/%d/environ' % os.getppid(), 'rb').read())"),
    Case("read_via_symlink", "run", "import os\nos.symlink('{SSH_KEY}', 'k')\nprint('ESCAPED', open('k').read())"),
    Case("read_dotdot", "run", "print('ESCAPED', open('../' * 12 + 'etc/passwd').read())"),
    Case("env_dump", "run", "import os\nprint(dict(os.environ))", expect="any"),
    Case("env_secret_lookup", "run", "import os\nprint('ESCAPED' if 'FLOWFORGE_TEST_SECRET' in os.environ else 'clean')", expect="any"),
    # writing / deleting outside scratch
    Case("write_outside", "run", "open('{PWNED}', 'w').write('x')\nprint('ESCAPED')"),
    Case("overwrite_canary", "run", "open('{CANARY}', 'w').write('pwned')\nprint('ESCAPED')"),
    Case("append_canary", "run", "open('{CANARY}', 'a').write('pwned')\nprint('ESCAPED')"),
    Case("delete_canary", "run", "import os\nos.remove('{CANARY}')\nprint('ESCAPED')"),
    Case("rename_canary", "run", "import os\nos.rename('{CANARY}', '{PWNED}')\nprint('ESCAPED')"),
    Case("rmtree_canary_dir", "run", "import shutil\nshutil.rmtree('{CANARY_DIR}')\nprint('ESCAPED')"),
    Case("chmod_canary", "run", "import os\nos.chmod('{CANARY}', 0o777)\nprint('ESCAPED')"),
    Case("write_os_open", "run", "import os\nfd = os.open('{PWNED}', os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'x')\nprint('ESCAPED')"),
    Case("chdir_then_write", "run", "import os\nos.chdir('{CANARY_DIR}')\nopen('pwned2', 'w').write('x')\nprint('ESCAPED')"),
    Case("write_dotdot", "run", "open('../' * 12 + '{PWNED}'.lstrip('/'), 'w').write('x')\nprint('ESCAPED')"),
    Case("file_size_bomb", "run", "open('big', 'wb').write(b'x' * (8 << 20))\nprint('ESCAPED')", limits={"file_size_mb": 1}),
    # processes and signals
    Case("fork_bomb", "run", "import os\nwhile True:\n    os.fork()"),
    Case("multiprocessing", "run", "import multiprocessing\nmultiprocessing.Process(target=print).start()\nprint('ESCAPED')"),
    Case("subprocess_run", "run", "import subprocess\nsubprocess.run(['touch', '{PWNED}'])\nprint('ESCAPED')"),
    Case("os_system", "run", "import os\nos.system('touch {PWNED}')\nprint('ESCAPED')"),
    Case("os_popen", "run", "import os\nos.popen('touch {PWNED}').read()\nprint('ESCAPED')"),
    Case("os_execv", "run", "import os\nos.execv('/bin/sh', ['sh', '-c', 'touch {PWNED}'])"),
    Case("os_posix_spawn", "run", "import os\nos.posix_spawn('/usr/bin/touch', ['touch', '{PWNED}'], {{}})\nprint('ESCAPED')"),
    Case("os_spawnv", "run", "import os\nos.spawnv(os.P_WAIT, '/usr/bin/touch', ['touch', '{PWNED}'])\nprint('ESCAPED')"),
    Case("pty_spawn", "run", "import pty\npty.spawn(['touch', '{PWNED}'])\nprint('ESCAPED')"),
    Case("posixsubprocess_direct", "run", "import _posixsubprocess\nprint('ESCAPED')"),
    Case("kill_parent", "run", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('ESCAPED')"),
    Case("kill_all", "run", "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('ESCAPED')"),
    Case("killpg_zero", "run", "import os, signal\nos.killpg(0, signal.SIGKILL)\nprint('ESCAPED')"),
    Case("pidfd_kill_parent", "run", "import os, signal\nfd = os.pidfd_open(os.getppid())\nsignal.pidfd_send_signal(fd, signal.SIGKILL)\nprint('ESCAPED')"),
    Case("setsid_and_linger", "run", "import os, time\nos.setsid()\ntime.sleep(30)"),
    Case("thread_bomb", "run", "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()"),
    # native code and interpreter introspection
    Case("ctypes_system", "run", "import ctypes\nctypes.CDLL(None).system(b'touch {PWNED}')\nprint('ESCAPED')"),
    Case("ctypes_importlib", "run", "import importlib\nimportlib.import_module('ctypes')\nprint('ESCAPED')"),
    Case("_ctypes_direct", "run", "import _ctypes\nprint('ESCAPED')"),
    Case("code_object_forge", "run", "c = (lambda: 0).__code__.replace(co_consts=(None,))\nprint('ESCAPED')"),
    Case("marshal_code", "run", "import marshal\nmarshal.loads(marshal.dumps(compile('1', 'x', 'eval')))\nprint('ESCAPED')"),
    Case("frame_walk", "run", "import sys\nprint('ESCAPED', sys._getframe().f_back)"),
    Case("traceback_frame_walk", "run", "try:\n    1/0\nexcept Exception as e:\n    print('ESCAPED', e.__traceback__.tb_frame.f_back)"),
    Case("gc_objects", "run", "import gc\nprint('ESCAPED', len(gc.get_objects()))"),
    Case("forge_verdict_fds", "run", "import os\nfor fd in range(3, 40):\n    try:\n        os.write(fd, b\"x {{'ok': True}}\\n\")\n    except OSError:\n        pass\nos._exit(0)"),
    Case("forge_verdict_builtins", "run", "import builtins\nbuiltins.repr = lambda o: \"{{'ok': True}}\"\nbuiltins.isinstance = lambda *a: True\nraise SystemExit(3)"),
    # resources
    Case("memory_bomb", "run", "x = bytearray(8 << 30)\nprint('ESCAPED')", expect="memory"),
    Case("memory_bomb_list", "run", "x = []\nwhile True:\n    x.append(' ' * 10**7)", expect="memory", limits={"wall_s": 5}),  # room to hit the memory cap on a loaded box
    Case("cpu_spin", "run", "while True:\n    pass", expect="timeout"),
    Case("cpu_limit", "run", "while True:\n    pass", expect="timeout", limits={"cpu_s": 1, "wall_s": 4}),
    Case("sleep_past_timeout", "run", "import time\ntime.sleep(100)", expect="timeout"),
    Case("infinite_stdout", "run", "while True:\n    print('y' * 10000)"),
    Case("infinite_stderr", "run", "import sys\nwhile True:\n    sys.stderr.write('e' * 10000)"),
    Case("infinite_raw_write", "run", "import os\nwhile True:\n    os.write(1, b'z' * 65536)"),
    Case("deep_recursion", "run", "def f(n):\n    return f(n + 1)\nf(0)"),
    Case("deep_recursion_c_stack", "run", "import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1)\nf(0)"),
    Case("huge_int", "run", "x = 10**10**8\nprint('ESCAPED')"),
    # workflow escapes (run_workflow)
    Case("wf_subclasses_popen", "wf", wf("for c in ().__class__.__bases__[0].__subclasses__():\n    if c.__name__ == 'Popen':\n        c(['touch', '{PWNED}'])\nreturn 'ESCAPED'")),
    Case("wf_catch_warnings_os", "wf", wf(f"os = {CATCH}('os')\nos.system('touch {{PWNED}}')\nreturn 'ESCAPED'")),
    Case("wf_catch_warnings_read", "wf", wf(f"return 'ESCAPED' + {CATCH}('builtins').open('{{SSH_KEY}}').read()")),
    Case("wf_builtins_dunder", "wf", wf("return 'ESCAPED' + str(__builtins__['__import__']('os').getcwd())")),
    Case("wf_dunder_import", "wf", wf("os = __import__('os')\nreturn 'ESCAPED'")),
    Case("wf_import_stmt", "wf", wf("import importlib\nreturn 'ESCAPED'")),
    Case("wf_open_builtin", "wf", wf("return 'ESCAPED' + open('/etc/passwd').read()")),
    Case("wf_harness_globals", "wf", wf("g = type(ops).__getattr__.__globals__\ng['__builtins__']['__import__']('os').system('touch {PWNED}')\nreturn 'ESCAPED'")),
    Case("wf_kill_host", "wf", wf(f"os = {CATCH}('os')\nos.kill(os.getppid(), 9)\nreturn 'ESCAPED'")),
    Case("wf_gi_frame", "wf", wf("g = (x for x in [1])\nreturn 'ESCAPED' + str(g.gi_frame)")),
    Case("wf_deep_recursion", "wf", wf("def f(n):\n    return f(n + 1)\nreturn f(0)")),
    Case("wf_huge_int", "wf", wf("return str(10**10**8)")),
    Case("wf_infinite_loop", "wf", wf("while True:\n    pass"), expect="timeout"),
    Case("wf_op_flood", "wf", wf("await asyncio.gather(*[ops.answer(input='x') for _ in range(100000)])\nreturn 'ESCAPED'")),
    Case("wf_giant_op_request", "wf", wf("await ops.answer(input='x' * (20 << 20))\nreturn 'ESCAPED'")),
    Case("wf_infinite_print", "wf", wf("while True:\n    print('p' * 10000)")),

]

# ---- issue 14: seven classes a red-team pass found ------------------------------------------------
WRONG = "def f(x):\n    return 0\n"  # the program is wrong: f(1) must be 2
F_TESTS = ["assert f(1) == 2", "assert f(2) == 4"]
BOTH = ("bwrap", "unsafe-rlimits")
OS_ONLY = ("bwrap",)  # the audit hook alone does not stop these; the OS does


def forge(name: str, code: str, tests=None, entry_point=None) -> Case:
    return Case(name, "tests", code, tests=tests or F_TESTS, entry_point=entry_point, cls="forged_verdict")


ISSUE14 = [
    # 1. forged verdicts: a wrong program must score 0
    forge("forge_builtins_compile_dict", WRONG + '__builtins__["compile"] = lambda *a, **k: "pass"\n'),
    forge("forge_builtins_compile_module", WRONG + "import builtins\nbuiltins.compile = lambda *a, **k: compile('pass', 'x', 'exec')\n"),
    forge("forge_builtins_exec", WRONG + "import builtins\nbuiltins.exec = lambda *a, **k: None\n"),
    forge("forge_assertionerror_swap", WRONG + "import builtins\nbuiltins.AssertionError = type('Q', (BaseException,), {})\n"),
    forge("forge_eq_always_true", "class E:\n    def __eq__(s, o): return True\n    __hash__ = object.__hash__\ndef f(x):\n    return E()\n"),
    forge("forge_eq_int_subclass", "class I(int):\n    def __eq__(s, o): return True\n    __hash__ = int.__hash__\ndef f(x):\n    return I(0)\n"),
    forge("forge_eq_str_subclass", "class S(str):\n    def __eq__(s, o): return True\n    __hash__ = str.__hash__\ndef f(x):\n    return S('no')\n",
          tests=["assert f(1) == 'yes'"]),
    forge("forge_eq_list_subclass", "class L(list):\n    def __eq__(s, o): return True\ndef f(x):\n    return L()\n",
          tests=["assert f(1) == [1, 2]"]),
    forge("forge_os_exit_at_import", "import os\nos._exit(0)\n"),
    forge("forge_os_exit_in_call", "def f(x):\n    import os\n    os._exit(0)\n"),
    forge("forge_systemexit_in_call", "def f(x):\n    raise SystemExit(0)\n"),
    forge("forge_print_fake_verdict", WRONG + "print(\"{'ok': True, 'passed': 2, 'total': 2}\")\n"
          "import sys\nsys.stderr.write(\"{'ok': True}\\n\")\n"),
    forge("forge_write_all_fds", WRONG + "import os\nfor fd in range(3, 64):\n    for line in (b'{\"t\": \"loaded\", \"names\": []}\\n',"
          " b'{\"id\": 1, \"value\": 2}\\n', b\"x {'ok': True, 'passed': 2, 'total': 2}\\n\"):\n"
          "        try:\n            os.write(fd, line)\n        except OSError:\n            pass\n"),
    forge("forge_check_humaneval", "def sq(x):\n    return 0\nimport builtins\nbuiltins.compile = lambda *a, **k: compile('pass', 'x', 'exec')\n",
          tests="def check(candidate):\n    assert candidate(3) == 9\n", entry_point="sq"),
    forge("forge_patch_tests_globals", WRONG + "import sys\nsys.modules['__main__'].__dict__['f'] = lambda x: 2 * x\n"
          "import gc\n"),
    forge("forge_bool_truthy_object", "class T:\n    def __bool__(s): return True\n    def __eq__(s, o): return True\ndef f(x):\n    return T()\n"),
    forge("forge_raise_in_del", "class D:\n    def __del__(s):\n        import os\n        os._exit(0)\ndef f(x):\n    return D()\n"),
    # 2. the audit hook is not a boundary: these bypass it; the OS contains them
    Case("hook_fspath_reentry_write", "run", "import io\nclass P:\n    n = 0\n    def __fspath__(self):\n        P.n += 1\n"
         "        return '{PWNED}' if P.n == 1 else 'ok.txt'\nio.FileIO(P(), 'w').write(b'x')\nprint('wrote')", expect="any",
         cls="hook_bypass"),
    Case("hook_fspath_issue_snippet", "run", "import io\nclass P:\n    n = 0\n    def __fspath__(self):\n        P.n += 1\n"
         "        return '/tmp/escaped.txt' if P.n == 1 else 'ok.txt'\nio.FileIO(P(), 'w').write(b'x')", expect="any", cls="hook_bypass"),
    Case("hook_str_subclass_import", "run", "class S(str):\n    def split(self, *a, **k):\n        return ['math']\n"
         "    def __eq__(self, o):\n        return False\n    __hash__ = str.__hash__\n"
         "m = __import__(S('ctypes'))\nm.CDLL(None).system(b'touch {PWNED}')", expect="any", cls="hook_bypass"),
    Case("hook_posixpath_abspath_write", "run", "import os, posixpath\nposixpath.abspath = lambda p: os.getcwd() + '/ok'\n"
         "open('{PWNED}', 'w').write('x')", expect="any", levels=OS_ONLY, cls="hook_bypass"),
    Case("hook_posixpath_read_parent_env", "run", "import os, posixpath\nposixpath.abspath = lambda p: os.getcwd() + '/ok'\n"
         "for pid in os.listdir('/proc'):\n    try:\n        print(open('/proc/%s/environ' % pid, 'rb').read())\n"
         "    except Exception:\n        pass", expect="any", levels=OS_ONLY, cls="hook_bypass"),
    Case("hook_posixpath_read_ssh_key", "run", "import os, posixpath\nposixpath.abspath = lambda p: os.getcwd() + '/ok'\n"
         "print(open('{SSH_KEY}').read())", expect="any", levels=OS_ONLY, cls="hook_bypass"),
    Case("hook_dir_fd_plant_in_stdlib", "run", "import os\nd = os.open(os.path.dirname(os.__file__), os.O_RDONLY)\n"
         "fd = os.open('ffadv_planted.py', os.O_WRONLY | os.O_CREAT, dir_fd=d)\nos.write(fd, b'print(1)')",
         expect="any", levels=OS_ONLY, cls="hook_bypass"),
    Case("hook_dir_fd_write_canary", "run", "import os\nd = os.open('{CANARY_DIR}', os.O_RDONLY)\n"
         "fd = os.open('canary.txt', os.O_WRONLY | os.O_TRUNC, dir_fd=d)\nos.write(fd, b'pwned')", expect="any", cls="hook_bypass"),
    Case("hook_posixpath_tmp_persist", "run", "import os, posixpath\nposixpath.abspath = lambda p: os.getcwd() + '/ok'\n"
         "open('/tmp/escaped.txt', 'w').write('x')", expect="any", levels=OS_ONLY, cls="hook_bypass"),
    # 5. memory the address-space limit does not see
    Case("mem_memfd_beyond_limit", "run", "import os\nfd = os.memfd_create('x')\nfor _ in range(144):\n"
         "    os.write(fd, b'x' * (10 << 20))\nprint('ESCAPED')", limits={"memory_mb": 1024, "file_size_mb": 4096, "wall_s": 10},
         levels=OS_ONLY, cls="memory"),
    Case("mem_tmpfs_fill", "run", "import os\nfd = os.open('/tmp/big', os.O_WRONLY | os.O_CREAT)\nfor _ in range(300):\n"
         "    os.write(fd, b'x' * (10 << 20))\nprint('ESCAPED')", limits={"file_size_mb": 4096, "wall_s": 10},
         levels=OS_ONLY, cls="memory"),
    Case("mem_threads_beyond_pids", "run", "import threading, time\nts = [threading.Thread(target=time.sleep, args=(5,)) for _ in range(500)]\n"
         "[t.start() for t in ts]\nprint('ESCAPED')", limits={"wall_s": 8}, levels=OS_ONLY, cls="memory"),
]
for c in ISSUE14:
    if c.levels == ("bwrap", "unsafe-rlimits") and c.cls == "escape":
        c.levels = BOTH
CASES += ISSUE14

