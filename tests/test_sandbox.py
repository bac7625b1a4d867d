"""Layer 3: after `sbx.pledge` (or `ilusm run --pledge`) the kernel holds the process to its set.

Each test runs a program in a child process (a kernel filter binds a process
for good) with ILUSM_SANDBOX_KERNEL removed from its environment. What layer 2
would stop is reached either by a child process, which layer 2 does not see,
or by opening layer 2 by hand in a Python child (`vm.caps = everything`), which
is what native code through `ffi` amounts to. A forbidden system call kills
the process with SIGSYS (status -31 to Python, 159 in a shell), uncatchable.
Skipped off Linux/x86-64 and where the kernel refuses the filter.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stage0.host import sandbox

pytestmark = pytest.mark.skipif(not sandbox.supported(), reason="the kernel layer needs Linux on x86-64")
ROOT = Path(__file__).resolve().parent.parent


def kernel_env() -> dict[str, str]:
    """The environment with the kernel layer on."""
    env = dict(os.environ)
    env.pop("ILUSM_SANDBOX_KERNEL", None)
    return env


def ilusm(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`ilusm ARGS` in cwd with the kernel layer on."""
    return subprocess.run([sys.executable, "-m", "stage0", *args], cwd=cwd, env=kernel_env(),
                          capture_output=True, text=True, timeout=120)


def python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A Python child running code with the kernel layer on."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=kernel_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def kernel_ok(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip when this kernel refuses a pledge (no seccomp filter, a container that forbids it)."""
    d = tmp_path_factory.mktemp("probe")
    (d / "p.ilu").write_text('prn(__sbx_pledge(["fs:ro"]).kern)\n')
    r = ilusm(["run", "p.ilu"], d)
    if "seccomp" not in r.stdout:
        pytest.skip(f"the kernel did not take the filter: {r.stdout!r} {r.stderr!r}")


def test_pledge_reports_the_kernel_layer(tmp_path: Path, kernel_ok: None) -> None:
    (tmp_path / "p.ilu").write_text('r = __sbx_pledge(["fs:ro", "time"])\nprn(r.caps, __sbx_kern() == r.kern)\n')
    r = ilusm(["run", "p.ilu"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == '["fs:ro", "io", "time"] tru\n'


def test_a_child_process_is_bound_by_the_parents_pledge(tmp_path: Path, kernel_ok: None) -> None:
    """Layer 2 does not see what a child does; the inherited filter kills the child at socket()."""
    (tmp_path / "p.ilu").write_text(textwrap.dedent("""\
        __sbx_pledge(["proc", "fs:ro"])
        r = __sys_run_command(__sys_args()[0], ["-c", "import socket; print('up', flush=True); socket.socket()"])
        prn(r.code, r.out)
        prn("parent goes on")
        """))
    r = ilusm(["run", "p.ilu", sys.executable], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{-signal.SIGSYS} up\n\nparent goes on\n"


def test_landlock_confines_a_childs_reads(tmp_path: Path, kernel_ok: None) -> None:
    (tmp_path / "inside.txt").write_text("in\n")
    (tmp_path / "p.ilu").write_text(textwrap.dedent("""\
        r = __sbx_pledge(["proc", "fs:ro"])
        prn(__sys_run_command("cat", ["inside.txt"]).out)
        prn(__sys_run_command("cat", ["/etc/hostname"]).errout)
        """))
    if sandbox.landlock_abi(sandbox._libc()) < 1:
        pytest.skip("this kernel has no Landlock")
    r = ilusm(["run", "p.ilu"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("in\n\n")
    assert "Permission denied" in r.stdout


LAYER2_OPEN = """\
    import io, sys
    from stage0.host.caps import Policy
    from stage0.host.registry import CAPS
    from stage0.host.sbx import pledge
    from stage0.interp.vm import VM
    from stage0.seedc.driver import compile_with_sources
    from pathlib import Path
    image, _ = compile_with_sources(Path("x.ilu"), source={program!r})
    vm = VM(image, fs_root={root!r})
    pledge(vm, {pledged!r})
    print("pledged", vm.kern, flush=True)
    vm.caps = frozenset(CAPS)   # layer 2 forced open: what native code through ffi could do
    vm.run_main()
    print("survived", flush=True)
"""


def run_layer2_open(tmp_path: Path, program: str, pledged: list[str]) -> subprocess.CompletedProcess[str]:
    """A Python child: pledge, open layer 2 by hand, run program."""
    code = LAYER2_OPEN.format(program=program, root=str(tmp_path), pledged=pledged)
    return python(code, tmp_path)


def test_a_forbidden_process_start_kills_with_sigsys(tmp_path: Path, kernel_ok: None) -> None:
    r = run_layer2_open(tmp_path, 'prn(__sys_run_command("true", []))', ["fs:ro"])
    assert r.stdout.startswith("pledged seccomp")
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stdout, r.stderr)
    assert "survived" not in r.stdout


def test_a_forbidden_write_kills_with_sigsys_and_writes_nothing(tmp_path: Path, kernel_ok: None) -> None:
    r = run_layer2_open(tmp_path, 'prn(__sys_write_file("planted.txt", "x"))', ["fs:ro"])
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stdout, r.stderr)
    assert not (tmp_path / "planted.txt").exists()


def test_a_forbidden_socket_kills_with_sigsys(tmp_path: Path, kernel_ok: None) -> None:
    r = run_layer2_open(tmp_path, 'prn(__sys_tcp_listen("127.0.0.1:0"))', ["fs:ro", "time"])
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stdout, r.stderr)


def test_what_the_pledge_keeps_still_works(tmp_path: Path, kernel_ok: None) -> None:
    (tmp_path / "in.txt").write_text("kept\n")
    r = run_layer2_open(tmp_path, 'prn(__sys_read_file("in.txt"))\nl = __sys_tcp_listen("127.0.0.1:0")\n'
                                  'prn(__sys_tcp_port(l) > 0)', ["fs:ro", "net"])
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.endswith("kept\n\ntru\nsurvived\n")


def test_run_pledge_flag_installs_the_layer_before_the_program(tmp_path: Path, kernel_ok: None) -> None:
    (tmp_path / "p.ilu").write_text('prn(__sbx_kern(), __sbx_caps())\n'
                                    'prn(try(\\() __sys_write_file("w.txt", "x")).err)\n')
    r = ilusm(["run", "--pledge", "--caps", "io,fs:ro", "p.ilu"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("seccomp")
    assert "capability 'fs' is not granted" in r.stdout


def test_spawn_with_caps_confines_only_the_child(tmp_path: Path, kernel_ok: None) -> None:
    """proc.spawn(..., {caps}) confines the child at kernel level; the parent stays free."""
    (tmp_path / "p.ilu").write_text(textwrap.dedent("""\
        py = __sys_args()[0]
        p = __sys_spawn(py, ["-c", "import socket; socket.socket()"], {caps: ["fs:ro"]})
        prn(__sys_wait(p.id, 60000).code)
        q = __sys_spawn("cat", ["/etc/hostname"], {caps: ["fs:ro"]})
        prn(__sys_wait(q.id, 60000).code != 0)
        l = __sys_tcp_listen("127.0.0.1:0")
        prn(__sys_tcp_port(l) > 0)
        """))
    r = ilusm(["run", "--fs-root", str(tmp_path), "p.ilu", sys.executable], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{-signal.SIGSYS}\ntru\ntru\n"


def plain_allows(prog: list[tuple[int, int, int, int]]) -> set[int]:
    """The system calls a filter allows outright: `JEQ nr, 0, 1` then `RET ALLOW`."""
    return {k for (code, jt, jf, k), nxt in zip(prog, prog[1:])
            if (code, jt, jf) == (sandbox.JEQ, 0, 1) and nxt == (sandbox.RET, 0, 0, sandbox.ALLOW)}


def test_filter_program_shape() -> None:
    """The BPF program checks the architecture first and ends by killing what it did not allow."""
    prog = sandbox.filter_program(frozenset({"io", "fs:ro"}))
    assert prog[:3] == [(sandbox.LD_ABS, 0, 0, sandbox.ARCH), (sandbox.JEQ, 1, 0, sandbox.AUDIT_ARCH_X86_64),
                        (sandbox.RET, 0, 0, sandbox.KILL)]
    assert prog[-1] == (sandbox.RET, 0, 0, sandbox.KILL)
    from stage0.host.syscalls import X86_64

    allowed = plain_allows(prog)
    assert X86_64["read"] in allowed and X86_64["socket"] not in allowed and X86_64["execve"] not in allowed
    assert X86_64["socket"] in plain_allows(sandbox.filter_program(frozenset({"net"})))
    assert len(prog) < 256  # every jump offset fits a BPF u8


def test_syscall_table_matches_this_kernels_header() -> None:
    """The generated table agrees with the machine's asm/unistd_64.h wherever both name a call."""
    header = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
    if not header.is_file():
        pytest.skip("no kernel header here")
    sys.path.insert(0, str(ROOT / "tools"))
    import gen_syscalls

    from stage0.host.syscalls import X86_64

    found = gen_syscalls.numbers(header)
    assert {n: v for n, v in X86_64.items() if n in found} == {n: found[n] for n in X86_64 if n in found}
    assert all(name in X86_64 for group in sandbox.GROUPS.values() for name in group if name in found)


def test_ffi_gets_past_layer_2_but_not_the_kernel(tmp_path: Path, kernel_ok: None) -> None:
    """Native code is outside layer 2 by design; after a pledge without net, libc's socket() kills."""
    (tmp_path / "p.ilu").write_text(textwrap.dedent("""\
        use ffi
        c = ffi.open(nil)
        socket = ffi.func(c, "socket", "i32", ["i32", "i32", "i32"])
        prn(socket(2, 1, 0) >= 0)
        prn(__sbx_pledge(["ffi"]).caps)
        prn(socket(2, 1, 0))
        prn("not reached")
        """))
    r = ilusm(["run", "--allow", "ffi", "p.ilu"], tmp_path)
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == 'tru\n["ffi", "io"]\n'


def test_ffi_write_after_a_read_only_pledge_kills(tmp_path: Path, kernel_ok: None) -> None:
    (tmp_path / "p.ilu").write_text(textwrap.dedent("""\
        use ffi
        open = ffi.func(ffi.open(nil), "open", "i32", ["ptr", "i32", "i32"])
        __sbx_pledge(["fs:ro", "ffi"])
        prn(open("planted.txt", 65, 420))
        """))
    r = ilusm(["run", "--allow", "ffi", "p.ilu"], tmp_path)
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stdout, r.stderr)
    assert not (tmp_path / "planted.txt").exists()
