"""The `ilusm` command line: commands, the REPL and the process plumbing around them."""
