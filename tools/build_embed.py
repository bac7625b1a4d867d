"""Build build/libilusm.so (embed/libilusm.c, CPython embedded) and the example in examples/embed/.

`python tools/build_embed.py [--example]` (or `make embed`). The flags come
from the running Python's sysconfig, so the library embeds the interpreter
that owns the project's virtual environment; the paths of that interpreter and
of the project are compiled in as defaults (ILUSM_PYTHON and ILUSM_HOME
override them at run time). It needs gcc, Python.h and a shared libpython.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "build" / "libilusm.so"
EXAMPLE = ROOT / "build" / "embed_example"


def why_not() -> str | None:
    """Why the library cannot be built here, or None."""
    if shutil.which("gcc") is None:
        return "gcc is not installed"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "Python.h is missing (install the Python development headers)"
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return "this Python has no shared libpython to embed"
    return None


def build_library() -> Path:
    """Compile the library; its path."""
    LIB.parent.mkdir(exist_ok=True)
    version = sysconfig.get_config_var("LDVERSION") or sysconfig.get_python_version()
    libdir = sysconfig.get_config_var("LIBDIR")
    cmd = ["gcc", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror",
           f"-I{ROOT / 'include'}", f"-I{sysconfig.get_paths()['include']}",
           f'-DILUSM_BUILD_PYTHON="{sys.executable}"', f'-DILUSM_BUILD_HOME="{ROOT}"',
           "-o", str(LIB), str(ROOT / "embed" / "libilusm.c"),
           f"-L{libdir}", f"-lpython{version}", f"-Wl,-rpath,{libdir}"]
    subprocess.run(cmd, check=True)
    return LIB


def build_example() -> Path:
    """Compile examples/embed/example.c against the library; its path."""
    cmd = ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{ROOT / 'include'}", "-o", str(EXAMPLE),
           str(ROOT / "examples" / "embed" / "example.c"), f"-L{LIB.parent}", "-lilusm", "-Wl,-rpath,$ORIGIN"]
    subprocess.run(cmd, check=True)
    return EXAMPLE


def main(argv: list[str]) -> int:
    reason = why_not()
    if reason is not None:
        print(f"cannot build the embedding library: {reason}", file=sys.stderr)
        return 1
    print(build_library())
    if "--example" in argv:
        print(build_example())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
