"""An image is decoded and verified once per load, whichever compiler made it (issue 9.6)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stage0.image import verify
from stage0.interp.vm import VM
from stage0.toolchain.programs import load_program


@pytest.mark.parametrize("compiler", ["seed", "self"])
def test_each_function_is_verified_and_decoded_once(compiler: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.ilu").write_text("twice(x) = x * 2\n", encoding="utf-8")
    main = tmp_path / "main.ilu"
    main.write_text('use "m.ilu"\nf(n) = if n < 1: 0 | twice(n) + f(n - 1)\nprn f(3)\n', encoding="utf-8")
    from stage0.toolchain.selfhost import default_toolchain

    if compiler == "self":
        default_toolchain()  # loading the toolchain itself is not what is counted
    verified: Counter[bytes] = Counter()
    decoded: Counter[bytes] = Counter()
    real_verify, real_decode = verify._verify, verify.decode

    def counting_verify(func: Any, image: Any, label: str) -> int:
        verified[func.code] += 1
        return real_verify(func, image, label)

    def counting_decode(code: bytes) -> Any:
        decoded[code] += 1
        return real_decode(code)

    monkeypatch.setattr(verify, "_verify", counting_verify)
    monkeypatch.setattr(verify, "decode", counting_decode)
    image, _ = load_program(str(main), compiler)
    with open(tmp_path / "out.txt", "w", encoding="utf-8") as out:
        VM(image, out=out).run_main()
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == "12\n"
    assert len(image.funcs) >= 4
    assert verified == Counter(f.code for f in image.funcs)
    assert decoded == verified
