"""`ast.show` round trip: every spec program, conformance program and library module parses,
prints back as source, and parses again to the same tree (positions aside)."""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from stage0.fast.vm import FastVM
from stage0.seedc.driver import compile_with_sources

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*ROOT.glob("tests/spec/**/*.ilu"), *ROOT.glob("lib/**/*.ilu"),
                *(ROOT.parent / "shared" / "conformance").glob("**/*.ilu")])


@pytest.fixture(scope="module")
def ast_mod() -> tuple[FastVM, dict[str, Any]]:
    image, _ = compile_with_sources(ROOT / "tests" / "ast_driver.ilu", source="use ast\nm = ast\n")
    vm = FastVM(image, out=io.StringIO())
    return vm, vm.run_main()["m"]


def strip(dump: str) -> str:
    return re.sub(r" @\d+:\d+", "", dump)


def test_every_program_round_trips(ast_mod: tuple[FastVM, dict[str, Any]]) -> None:
    vm, ast = ast_mod
    checked = 0
    for path in FILES:
        src = path.read_text(encoding="utf-8")
        try:
            tree = vm.call(ast["parse"], [src])
        except Exception:  # noqa: BLE001  (programs with syntax errors on purpose)
            continue
        text = vm.call(ast["show"], [tree])
        again = vm.call(ast["parse"], [text])
        assert strip(vm.call(ast["dump"], [again])) == strip(vm.call(ast["dump"], [tree])), path
        checked += 1
    assert checked > 500


def test_dump_is_the_dump_ast_text(ast_mod: tuple[FastVM, dict[str, Any]]) -> None:
    from stage0.seedc.parser import parse
    from stage0.syntax import dump

    vm, ast = ast_mod
    src = (ROOT / "tests" / "spec" / "mat" / "block_arms.ilu").read_text()
    assert vm.call(ast["dump"], [vm.call(ast["parse"], [src])]) == dump(parse(src, "<ast>"))
