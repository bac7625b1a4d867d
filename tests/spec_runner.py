"""The spec programs' annotations, read and checked by stage0/toolchain/testrun.py (`ilusm test`):
the test suite uses the same code as the command."""
from stage0.toolchain.testrun import Expect, expectations, spec_files, verdict

__all__ = ["Expect", "expectations", "spec_files", "verdict"]
