"""Test-only helper shared by the CLI tests: run the `ilusm` click command in-process."""
from __future__ import annotations

from click.testing import CliRunner

from stage0.cli.commands import cli


def ilusm(*args: str, input: str | None = None) -> tuple[int, str, str]:
    """Run the command in-process; (exit status, stdout, stderr)."""
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr
