"""Test setup: the repository root and tests/ are importable."""
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (HERE, HERE.parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

# The JIT's disk cache of the test session's programs (and the processes they start) goes to a
# folder of its own, never to the user's ~/.cache/ilusm-jit; tests of the cache set their own.
if "ILUSM_JIT_CACHE_DIR" not in os.environ:
    os.environ["ILUSM_JIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="ilusm-jit-tests-")
# Likewise the compiled programs `ilusm run` keeps (stage0/toolchain/progcache.py).
if "ILUSM_PROGRAM_CACHE_DIR" not in os.environ:
    os.environ["ILUSM_PROGRAM_CACHE_DIR"] = tempfile.mkdtemp(prefix="ilusm-programs-tests-")

# Spec programs run inside the test process (tests/test_spec.py); one that pledges must not bind
# the test process itself with a kernel filter for good. The kernel layer's own tests run
# programs in child processes with this variable removed (tests/test_sandbox.py).
os.environ["ILUSM_SANDBOX_KERNEL"] = "off"
