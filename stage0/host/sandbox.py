"""Layer 3 of the capability model: the kernel confines the process (`../shared/spec/stdlib.md` §3.5).

`pledge(ctx, caps)` narrows the VM's capability set for good, then, on Linux,
installs two kernel mechanisms through ctypes (no library needed):

- **Landlock** confines paths: read-write beneath the file root with `fs`,
  read-only with `fs:ro`, and read-only on what the Python runtime itself
  needs (its installation, the library folders, a few files of `/etc`).
  Landlock binds the calling thread and its future children only; ilusm
  programs run on the CLI's big-stack worker thread, so that is the thread
  that holds the program.
- **seccomp** (a raw BPF allow-list, applied to every thread with TSYNC)
  confines system calls to the groups of the pledged capabilities. Anything
  else kills the process by SIGSYS, which no handler sees: a pledged program
  that reaches a forbidden call through `ffi` or a child process dies.

A read-only `openat` stays allowed in every pledge: the Python runtime and
the dynamic loader read their own files, and Landlock decides which paths
those may be. `child_confinement` builds the same two layers for one child
process, applied between fork and exec, leaving the parent free.
"""
from __future__ import annotations

import ctypes
import os
import sys
from typing import Any, Optional

from stage0.host.syscalls import X86_64

# ---- seccomp ------------------------------------------------------------------------------

ALLOW = 0x7FFF0000
KILL = 0x80000000            # SECCOMP_RET_KILL_PROCESS: "as though by SIGSYS", uncatchable
ERRNO_ENOSYS = 0x00050000 | 38
ERRNO_EACCES = 0x00050000 | 13
AF_UNIX = 1
AUDIT_ARCH_X86_64 = 0xC000003E
CLONE_THREAD = 0x00010000
OPEN_WRITE_FLAGS = 0x643     # O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND
LD_ABS, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06   # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JSET|K, BPF_RET|K
NR, ARCH = 0, 4              # offsets in struct seccomp_data


def arg(i: int) -> int:
    """The offset of the low 32 bits of system-call argument i in seccomp_data."""
    return 16 + 8 * i


# System calls by capability group (x86_64 names; measured with strace on `ilusm run`).
GROUPS: dict[str, tuple[str, ...]] = {
    "stdio": ("read", "write", "readv", "writev", "close", "fstat", "newfstatat", "statx", "lseek", "mmap",
              "munmap", "mprotect", "mremap", "brk", "madvise", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
              "sigaltstack", "futex", "getrandom", "exit", "exit_group", "getpid", "getppid", "gettid",
              "clock_gettime", "clock_getres", "gettimeofday", "clock_nanosleep", "nanosleep", "sched_yield",
              "sched_getaffinity", "ioctl", "fcntl", "dup", "dup2", "dup3", "pread64", "getcwd", "uname", "sysinfo",
              "prlimit64", "getrlimit", "getrusage", "set_robust_list", "rseq", "getuid", "geteuid", "getgid",
              "getegid", "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait",
              "epoll_pwait", "pipe2", "tgkill", "lstat", "stat", "readlink", "readlinkat", "access", "faccessat",
              "faccessat2", "getdents64", "membarrier", "eventfd2",
              # what common child programs (cat, ls, sh, python) need besides: reading hints, fs facts,
              # zero-copy reads and extended-attribute reads (ls -l), time and process facts
              "fadvise64", "statfs", "fstatfs", "copy_file_range", "sendfile", "splice", "getxattr",
              "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "getpgrp", "getsid", "getgroups",
              "getresuid", "getresgid", "times", "getitimer", "setitimer", "alarm", "rt_sigsuspend",
              "rt_sigtimedwait", "rt_sigpending", "getcpu", "sched_getparam", "sched_getscheduler", "getpriority",
              "prctl", "capget"),  # no_new_privs is set first, so neither can gain a privilege
    "fs": ("pwrite64", "ftruncate", "fsync", "fdatasync", "rename", "renameat", "renameat2", "unlink", "unlinkat",
           "mkdir", "mkdirat", "rmdir", "umask", "fchmod", "chmod", "fchmodat", "utimensat", "fallocate",
           "symlink", "symlinkat", "link", "linkat"),
    "net": ("socket", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom", "sendmsg", "recvmsg",
            "sendmmsg", "recvmmsg", "shutdown", "getsockname", "getpeername", "setsockopt", "getsockopt"),
    "proc": ("clone", "clone3", "vfork", "fork", "execve", "execveat", "wait4", "waitid", "kill", "close_range",
             "set_tid_address", "arch_prctl", "setsid", "setpgid", "getpgid", "pidfd_open", "pidfd_send_signal"),
    "exec": ("execve", "execveat", "close_range", "set_tid_address", "arch_prctl"),  # a confined child's start
}


def syscall_names(caps: frozenset[str], child: bool = False) -> set[str]:
    """Every system call the capability set allows (a child may also exec itself)."""
    names = set(GROUPS["stdio"])
    for group in ("fs", "net", "proc"):
        if group in caps:
            names |= set(GROUPS[group])
    if child:
        names |= set(GROUPS["exec"])
    return names - {"clone", "clone3", "openat"}  # these three get rules that look at arguments


def filter_program(caps: frozenset[str], child: bool = False) -> list[tuple[int, int, int, int]]:
    """The BPF program: (code, jt, jf, k) instructions, killing what `caps` does not allow."""
    prog = [(LD_ABS, 0, 0, ARCH), (JEQ, 1, 0, AUDIT_ARCH_X86_64), (RET, 0, 0, KILL), (LD_ABS, 0, 0, NR)]
    for name in sorted(syscall_names(caps, child), key=lambda n: X86_64[n]):
        prog += [(JEQ, 0, 1, X86_64[name]), (RET, 0, 0, ALLOW)]
    if "proc" in caps:
        prog += [(JEQ, 0, 1, X86_64["clone"]), (RET, 0, 0, ALLOW), (JEQ, 0, 1, X86_64["clone3"]), (RET, 0, 0, ALLOW)]
    else:  # threads only: clone3 hides its flags behind a pointer, so glibc is told to use clone
        prog += [(JEQ, 0, 4, X86_64["clone"]), (LD_ABS, 0, 0, arg(0)), (JSET, 0, 1, CLONE_THREAD),
                 (RET, 0, 0, ALLOW), (RET, 0, 0, KILL), (JEQ, 0, 1, X86_64["clone3"]), (RET, 0, 0, ERRNO_ENOSYS)]
    if "net" not in caps:  # a local socket (name-service lookups: ls -l, id) fails softly; others kill
        prog += [(JEQ, 0, 4, X86_64["socket"]), (LD_ABS, 0, 0, arg(0)), (JEQ, 0, 1, AF_UNIX),
                 (RET, 0, 0, ERRNO_EACCES), (RET, 0, 0, KILL)]
    write_ok = "fs" in caps
    prog += [(JEQ, 0, 4, X86_64["openat"]), (LD_ABS, 0, 0, arg(2)), (JSET, 0, 1, OPEN_WRITE_FLAGS),
             (RET, 0, 0, ALLOW if write_ok else KILL), (RET, 0, 0, ALLOW)]
    return prog + [(RET, 0, 0, KILL)]


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


# ---- Landlock -----------------------------------------------------------------------------

LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
LL_REFER, LL_TRUNCATE, LL_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
LL_FILE_ONLY = LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV
LL_READ = LL_EXECUTE | LL_READ_FILE | LL_READ_DIR
PR_SET_NO_NEW_PRIVS = 38
# Files the runtime reads wherever the program's root is (name resolution, TLS roots, time zone).
SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ssl", "/etc/resolv.conf", "/etc/hosts",
               "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/localtime", "/etc/gai.conf", "/dev/urandom",
               "/proc/self")
SYSTEM_WRITE = ("/dev/null",)


class PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> Any:
    """libc with errno kept, and syscall returning a long."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def landlock_abi(libc: Any) -> int:
    """The kernel's Landlock ABI version, 0 when it has none."""
    version = libc.syscall(ctypes.c_long(X86_64["landlock_create_ruleset"]), None, ctypes.c_size_t(0),
                           ctypes.c_uint32(1))
    return max(int(version), 0)


def handled_rights(abi: int) -> int:
    """Every file-system right this ABI knows (all of them are handled, so all are denied by default)."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= LL_REFER
    if abi >= 3:
        rights |= LL_TRUNCATE
    if abi >= 5:
        rights |= LL_IOCTL_DEV
    return rights


def runtime_folders() -> list[str]:
    """What the Python runtime and ilusm read: the installations of both (the folder holding stage0), sys.path,
    the library."""
    from stage0.paths import lib_root

    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
               str(lib_root()), os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))}
    folders |= {p for p in sys.path if p and os.path.isdir(p)}
    return sorted(os.path.realpath(f) for f in folders)


def landlock_rules(caps: frozenset[str], root: Optional[str]) -> list[tuple[str, int]]:
    """(path, rights) pairs for a ruleset (files get only the rights a file can have)."""
    rules = [(p, LL_READ) for p in (*SYSTEM_READ, *runtime_folders())]
    rules += [(p, LL_READ | LL_WRITE_FILE) for p in SYSTEM_WRITE]
    target = root or "/"
    if "fs" in caps:
        rules.append((target, -1))  # -1: every handled right
    elif "fs:ro" in caps:
        rules.append((target, LL_READ))
    return rules


def make_ruleset(libc: Any, caps: frozenset[str], root: Optional[str]) -> int:
    """A Landlock ruleset fd holding the rules for caps, or -1 when the kernel has no Landlock."""
    abi = landlock_abi(libc)
    if abi < 1:
        return -1
    handled = handled_rights(abi)
    attr = ctypes.c_uint64(handled)
    fd = int(libc.syscall(ctypes.c_long(X86_64["landlock_create_ruleset"]), ctypes.byref(attr),
                          ctypes.c_size_t(8), ctypes.c_uint32(0)))
    if fd < 0:
        return -1
    for path, rights in landlock_rules(caps, root):
        _add_rule(libc, fd, path, handled if rights == -1 else rights & handled)
    return fd


def _add_rule(libc: Any, ruleset: int, path: str, rights: int) -> None:
    """Allow `rights` beneath path (a missing path is skipped)."""
    try:
        pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= LL_FILE_ONLY
        rule = PathBeneath(rights, pfd)
        libc.syscall(ctypes.c_long(X86_64["landlock_add_rule"]), ctypes.c_int(ruleset), ctypes.c_int(1),
                     ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(pfd)


# ---- putting it together ------------------------------------------------------------------

def supported() -> bool:
    """Whether this host can install the kernel layer (Linux on x86_64)."""
    import platform

    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


def _fprog(caps: frozenset[str], child: bool) -> tuple[SockFprog, Any]:
    """The filter as the kernel wants it (the array is returned too, to keep it alive)."""
    prog = filter_program(caps, child)
    array = (SockFilter * len(prog))(*[SockFilter(*ins) for ins in prog])
    return SockFprog(len(prog), array), array


def install(caps: frozenset[str], root: Optional[str], tsync: bool = True) -> str:
    """Confine this thread (Landlock) and the process (seccomp); what got installed."""
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return "none"
    parts = []
    ruleset = make_ruleset(libc, caps, root)
    if ruleset >= 0:
        if libc.syscall(ctypes.c_long(X86_64["landlock_restrict_self"]), ctypes.c_int(ruleset),
                        ctypes.c_uint32(0)) == 0:
            parts.append("landlock")
        os.close(ruleset)
    fprog, _keep = _fprog(caps, child=False)
    if libc.syscall(ctypes.c_long(X86_64["seccomp"]), ctypes.c_uint(1), ctypes.c_uint(1 if tsync else 0),
                    ctypes.byref(fprog)) == 0:
        parts.insert(0, "seccomp")
    return "+".join(parts) or "none"


class ChildConfinement:
    """A preexec_fn that confines one child to caps beneath root. The ruleset and the filter are
    built in the parent (the child only applies them); close() releases the parent's copy."""

    def __init__(self, caps: frozenset[str], root: Optional[str]) -> None:
        self.libc = _libc()
        self.ruleset = make_ruleset(self.libc, caps, root)
        self.fprog, self.keep = _fprog(caps, child=True)

    def __call__(self) -> None:
        libc = self.libc
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if self.ruleset >= 0:
            libc.syscall(ctypes.c_long(X86_64["landlock_restrict_self"]), ctypes.c_int(self.ruleset),
                         ctypes.c_uint32(0))
        libc.syscall(ctypes.c_long(X86_64["seccomp"]), ctypes.c_uint(1), ctypes.c_uint(0), ctypes.byref(self.fprog))

    def close(self) -> None:
        """Close the parent's ruleset fd."""
        if self.ruleset >= 0:
            os.close(self.ruleset)
            self.ruleset = -1


def child_confinement(caps: frozenset[str], root: Optional[str]) -> Optional[ChildConfinement]:
    """The confinement for a child holding caps, or None where the host cannot confine."""
    if not supported() or kernel_layer_off():
        return None
    return ChildConfinement(caps, root)


def kernel_layer_off() -> bool:
    """ILUSM_SANDBOX_KERNEL=off: pledges narrow layer 2 only (the test suite runs programs in its
    own process, which a kernel filter would bind for good)."""
    return os.environ.get("ILUSM_SANDBOX_KERNEL", "").lower() == "off"


PRELOAD = ("json", "socket", "select", "ssl", "urllib.request", "urllib.error", "http.client", "email.parser",
           "subprocess", "ctypes", "codecs", "encodings.idna", "encodings.utf_8", "encodings.latin_1",
           "cryptography.hazmat.primitives.ciphers", "cryptography.hazmat.primitives.padding",
           "cryptography.hazmat.primitives.ciphers.aead", "cryptography.exceptions", "hmac", "hashlib", "secrets",
           "re", "zlib", "stage0.host.net", "stage0.host.proc", "stage0.host.jsn")


def preload() -> None:
    """Import now what the host might import lazily later: after a pledge, opening a file the
    sandbox does not allow could kill the process."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    sys.dont_write_bytecode = True
    sys.stdout.flush()
    sys.stderr.flush()
