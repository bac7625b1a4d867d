"""The tracing JIT's host half: the recorder, the glue and the runtime (see runtime.py)."""
