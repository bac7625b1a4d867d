"""Errors that teach (stage0/hints.py) and source that is not UTF-8, on both compilers and both engines.

The spec programs in tests/spec/syntax_errors/hint_*.ilu and
tests/spec/errors/hint_*.ilu check each hint end to end; these tests check
where hints are not given, and what the spec runner cannot express (a source
file that is not UTF-8).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_util import ilusm

from stage0.hints import comment_count, field_read, undefined_name

COMPILERS = ("seed", "self")
ENGINES = ("ref", "fast")


@pytest.mark.parametrize("text, want", [
    ("n = #xs", " (ilusm writes 'len(xs)' for '#xs')"),
    ("n = 1 +#xs \t", " (ilusm writes 'len(xs)' for '#xs')"),
    ("#_a1", " (ilusm writes 'len(_a1)' for '#_a1')"),
    ("n = # a count", ""),
    ("n = #9", ""),
    ("n = a#xs", ""),
    ("n = '#'#xs", ""),
    ("n = #xs.y", ""),
    ("n = 1", ""),
])
def test_comment_count(text: str, want: str) -> None:
    """Only a `#` glued to a name, ending the line, and not glued to what stands before it, gets the len hint."""
    assert comment_count(text) == want


def test_runtime_hints_are_for_lists_and_strings_and_habit_words() -> None:
    """length/size/count of lst and str get the len hint; other fields and types, and other names, do not."""
    assert field_read("length", "lst") == "cannot read field 'length' of lst (ilusm writes 'len(x)' for 'x.length')"
    assert field_read("count", "str").endswith("(ilusm writes 'len(x)' for 'x.count')")
    assert field_read("count", "num") == "cannot read field 'count' of num"
    assert field_read("first", "lst") == "cannot read field 'first' of lst"
    assert undefined_name("import") == "undefined name 'import' (ilusm writes 'use' for 'import')"
    assert undefined_name("printf") == "undefined name 'printf'"


@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("source, message", [
    ("n = # a count\n", "1:14: syntax error: unexpected end of line\n"),
    ("f(x) =\n    whilex > 0\n    x +\n", "3:8: syntax error: unexpected end of line\n"),
    ("if 1:\n    print(1)\n| 2 +\n", "3:6: syntax error: unexpected end of line\n"),
    ("if 1: return\n| 2 +\n", "2:6: syntax error: unexpected end of line\n"),
])
def test_no_hint_without_a_habit(tmp_path: Path, compiler: str, source: str, message: str) -> None:
    """An ordinary syntax error keeps its plain message on both compilers."""
    (tmp_path / "p.ilu").write_text(source, encoding="utf-8")
    status, out, err = ilusm("run", "--compiler", compiler, str(tmp_path / "p.ilu"))
    assert status == 65 and out == ""
    assert err.splitlines()[0].endswith(message.rstrip("\n")), err


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_give_the_same_hint(tmp_path: Path, engine: str) -> None:
    """Both engines report a field read and an undefined name with the same hint."""
    (tmp_path / "p.ilu").write_text("f(xs) = xs.size\nprn try(\\() f([1])).err\nreturn 1\n", encoding="utf-8")
    status, out, err = ilusm("run", "--engine", engine, str(tmp_path / "p.ilu"))
    assert out == "cannot read field 'size' of lst (ilusm writes 'len(x)' for 'x.size')\n"
    assert status == 70 and err.startswith("error: undefined name 'return' (ilusm writes 'ret' for 'return')\n")


def run_in(folder: Path, compiler: str, file: str) -> tuple[int, str, str]:
    """`ilusm run --compiler COMPILER FILE` from folder."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        return ilusm("run", "--compiler", compiler, file)
    finally:
        os.chdir(old)


@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("data, where, byte", [
    (b'x = 1\nprn "\xff"\n', "2:6", "0xff"),
    (b"prn 1\n# caf\xc3\xa9 \xe2\x82\n", "2:8", "0xe2"),
    (b"\xef\xbb\xbfx\xc0 = 1\n", "1:2", "0xc0"),
    (b"\xed\xa0\x80\n", "1:1", "0xed"),
])
def test_invalid_utf8_is_reported_at_its_position(tmp_path: Path, compiler: str, data: bytes, where: str,
                                                  byte: str) -> None:
    """A byte that is not UTF-8: a syntax error at its line and column (in characters), exit 65."""
    (tmp_path / "bad.ilu").write_bytes(data)
    status, out, err = run_in(tmp_path, compiler, "bad.ilu")
    assert (status, out, err) == (65, "", f"bad.ilu:{where}: syntax error: invalid UTF-8 (byte {byte})\n")


@pytest.mark.parametrize("compiler", COMPILERS)
def test_invalid_utf8_in_a_used_module(tmp_path: Path, compiler: str) -> None:
    """The same error names the used module's file."""
    (tmp_path / "main.ilu").write_text("use lib1\nprn 1\n", encoding="utf-8")
    (tmp_path / "lib1.ilu").write_bytes(b'x = 1\ny = "\xfe"\n')
    status, out, err = run_in(tmp_path, compiler, "main.ilu")
    assert (status, out, err) == (65, "", "lib1.ilu:2:6: syntax error: invalid UTF-8 (byte 0xfe)\n")


def test_self_hosted_parser_keeps_the_same_table() -> None:
    """lib/frontend/prs.ilu's _HABITS is stage0/hints.py's HABITS (the one fact, kept in both languages)."""
    from stage0.hints import HABITS
    from stage0.interp.loader import ModuleRT
    from stage0.toolchain import selfhost

    vm = selfhost.default_toolchain().vm
    (i, mod), = [(i, m) for i, m in enumerate(vm.modules) if m.key == "lib/frontend/prs.ilu"]
    if mod.state != ModuleRT.DONE:
        vm.import_module(i)
    assert mod.globals["_HABITS"] == HABITS
