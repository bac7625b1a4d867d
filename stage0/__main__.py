"""`python -m stage0` is the `ilusm` command."""
from stage0.cli.commands import main

main()
