"""The fast host tier: control-flow analysis, Python code generation from ILBC, and the VM that runs it."""
