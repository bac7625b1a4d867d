"""Differential test of the self-hosted front end (lib/frontend/lex.ilu, prs.ilu).

tests/selfhost/dump_front.ilu runs on the stage-0 VM (compiled by the seed
compiler) and prints, for each file, the token dump or the AST dump made by
the ilusm lexer and parser, or `ERROR KIND LINE:COL MESSAGE`. Every file must
give exactly what the seed's `lexer.dump_tokens` / `ast.dump` print, or the
seed's CompileError (kind, position and message).

The corpus: every .ilu file under tests/spec, lib, bench and the shared
conformance suite, plus hand-picked snippets (mostly errors) written to a
temporary folder. The VM is slow to start and slow to run, so each mode runs
one process per batch of files, once per test session.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import pytest

from stage0 import syntax as A
from stage0.cli.commands import run_file
from stage0.errors import CompileError
from stage0.host.caps import Policy
from stage0.seedc.lexer import dump_tokens, tokenize
from stage0.seedc.parser import parse

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "selfhost" / "dump_front.ilu"
CORPUS_DIRS = [ROOT / "tests" / "spec", ROOT / "lib", ROOT / "bench", ROOT.parent / "shared" / "conformance"]
MODES = ("tokens", "ast")

UNCONFINED = Policy()  # the driver reads the corpus wherever it lies, as the toolchain would


def _corpus() -> list[Path]:
    files: list[Path] = []
    for d in CORPUS_DIRS:
        if d.is_dir():
            files += sorted(d.rglob("*.ilu"))
    return files


CORPUS = _corpus()

# Hand-picked snippets: lexical errors, syntax errors, compile-time checks, and
# a few valid sources with tricky tokens or trees.
SNIPPETS = [
    # lexical errors
    'x = "a\\qb"',
    '"\\u{110000}"',
    '"\\u{D800}"',
    '"\\u{1234567}"',
    '"\\u41"',
    "x = 'abc\ny = 1",
    'x = "abc',
    'prn "ab\\',
    '$"a {x"',
    '$"a {} b"',
    '$"a } b"',
    '$"a {x} \\q"',
    '$"a {"b}"',
    "x = 1 ; y",
    "a ? b",
    "$x",
    "café = 1",
    "x = 1\ry",
    "x = \u00a01",
    "\ufeffx = 1",
    "a:\n\tb",
    "a:\n    \tb",
    "a:\n    b\n  c",
    "f(1,\n  2",
    "x = 1)",
    "f([1, 2)",
    "o?[1)",
    "x = 12ab",
    "x = 0b102",
    "x = 1_",
    "x = 1e",
    "x = 0x",
    # syntax errors and compile-time checks
    "x = 1 +* 2",
    "a < b < c",
    "a..b == c..d == e",
    "a..b..c",
    "a?.b = 1",
    "f() = 1 = 2",
    "x <- xs prn x",
    "mat x: 0",
    "mat x:\n    y: 1",
    "mat x:\n    _, 1: 2",
    "f(x) =\ny",
    "use 5",
    "def x 1",
    "f(a, a) = 1",
    "\\(1) 1",
    "o.if",
    "{if: 1}",
    "{a: 1 b: 2}",
    "xs[]",
    "()",
    "brk",
    "if c: brk",
    "x <- xs:\n    f = \\()\n        brk",
    "whl c:\n    f() = cnt",
    "f = \\() ret 1",
    "f(x) =\n    g = \\()\n        ret x\n    ret\nret",
    "if c: a\n|| b",
    "f = \\(x)\n    x\n+ 1",
    'x = $"a {1 +} b"',
    'prn $"ok {a b}"',
    'x = $"{$"<{1 +}>"}"',
    'x = $"{  a ; b}"',
    "x = if c",
    "if c: 1 |",
    "prn x,",
    "f (x) = 1",
    # valid sources
    'prn $"<{$"[{x + 1}]"}> {o["k"]} \\{lit\\} {f("}")}"',
    "x = 1.5e-3 + 0xFF_FF - 0b1_01 * 1_000 / 2.0 % 1e9\ny = 3.14..10",
    "mat v:\n    -1, -0.0 => 0\n    \"s\", tru, nil: 1\n    _: 2",
    "f(x) =\r\n    x\r\nprn f(1)\r\n",
    'o = {\n  a: 1, # comment\n\n  "X-Key": [1,\n2,],\n}\nprn o?.a?[0], -x, !y, not z',
    "if x < 0: prn \"neg\"\n| if x == 0: prn \"zero\"\n| prn \"pos\"",
    "clamp = \\(x)\n    if x > 10: ret 10\n    x\nprn xs | total |> f(1)",
    "prn -1\nx -1\nx - 1\nprn (1 + 2) * 3\nprn [1]\nxs [0]\ni, x <- xs: cnt",
    's = "tab\\there \\u{1F600} \\u{7f} \\0 \\\\ \\" \\\' \\{"\n',
    # hints (stage0/hints.py) and where they are not given
    "n = # a count",
    "n = 1 +#xs  \t",
    "n = 1 + a#xs",
    "n = 'a'#xs\n",
    "n = #9\n",
    "n = #_x1\r\n",
    "f(x) =\n    while x > 0:\n        x -= 1\n",
    "if x: prn 1\nelse: prn 2\n",
    "def f(x):\n    x\n",
    "return\nreturn 1 +\n",
    "prnt(1,\n",
    "xs = [1]\nn = len(xs) + #xs",
    "x = 1\nif x:\n    print(1)\n| 2 +\n",
    "x = 1\nif x: print(1)\n| 2 +\n",
    # parentheses end an optional chain (a Paren node only around one)
    "(a?.b).c\n(a?.b)[0]\n(a?.f)()\n(a.b).c\n((a?.b))\n(f()?.x)(1)\n(a?.b.c)?.d\n",
]


def _py_dump(mode: str, path: Path) -> str:
    """What the seed front end prints for a file (the dump, or its error line)."""
    src = path.read_bytes().decode("utf-8")  # no newline translation, as the driver reads it
    try:
        if mode == "tokens":
            return dump_tokens(tokenize(src, str(path)))
        return A.dump(parse(src, str(path)))
    except CompileError as e:
        return f"ERROR {e.kind} {e.line}:{e.col} {e.message}"


def _run_driver(mode: str, paths: list[Path]) -> dict[str, str]:
    """Run dump_front.ilu over paths in one VM process; map each path to its output."""
    out, err = io.StringIO(), io.StringIO()
    status = run_file(str(DRIVER), [mode] + [str(p) for p in paths], out, err, grant=UNCONFINED)
    assert status == 0, err.getvalue()
    assert err.getvalue() == ""
    got: dict[str, list[str]] = {}
    current: list[str] = []
    for line in out.getvalue().split("\n")[:-1]:
        if line.startswith("=== "):
            current = got.setdefault(line[4:], [])
        else:
            current.append(line)
    return {k: "\n".join(v) for k, v in got.items()}


def _batches(paths: list[Path], size: int = 150) -> list[list[Path]]:
    return [paths[i:i + size] for i in range(0, len(paths), size)]


@pytest.fixture(scope="module")
def snippet_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("front_snippets")
    files = []
    for i, src in enumerate(SNIPPETS):
        f = folder / f"s{i:03d}.ilu"
        f.write_bytes(src.encode("utf-8"))
        files.append(f)
    return files


@pytest.fixture(scope="module")
def driver_output(snippet_files: list[Path]) -> Callable[[str, Path], str]:
    """The driver's output for any corpus or snippet file, computed batch by batch on demand."""
    cache: dict[str, dict[str, str]] = {mode: {} for mode in MODES}

    def get(mode: str, path: Path) -> str:
        if str(path) not in cache[mode]:
            group = snippet_files if path in snippet_files else CORPUS
            for batch in _batches(group):
                if path in batch:
                    cache[mode].update(_run_driver(mode, batch))
        return cache[mode].get(str(path), "<no output>")

    return get


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_corpus_file(driver_output: Callable[[str, Path], str], mode: str, path: Path) -> None:
    assert driver_output(mode, path) == _py_dump(mode, path)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet(driver_output: Callable[[str, Path], str], snippet_files: list[Path],
                 mode: str, index: int) -> None:
    path = snippet_files[index]
    assert driver_output(mode, path) == _py_dump(mode, path)


def test_snippets_exercise_errors(snippet_files: list[Path]) -> None:
    """Most snippets are errors, of both kinds, in both the lexer and the parser."""
    lines = [_py_dump("ast", p) for p in snippet_files]
    errors = [x for x in lines if x.startswith("ERROR ")]
    assert len(errors) >= 60
    assert any(x.startswith("ERROR error ") for x in errors)
    lexical = [p for p in snippet_files if _py_dump("tokens", p).startswith("ERROR ")]
    assert len(lexical) >= 30


def test_deep_nesting_is_a_syntax_error(tmp_path: Path) -> None:
    """Nesting past MAX_NESTING: the seed's message at the seed's position."""
    f = tmp_path / "deep.ilu"
    f.write_text("x = " + "(" * 3000 + "1" + ")" * 3000)
    got = _run_driver("ast", [f])[str(f)]
    assert got == "ERROR syntax error 1:1005 too deeply nested"


def test_corpus_is_large() -> None:
    assert len(CORPUS) >= 300
