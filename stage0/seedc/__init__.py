"""The seed compiler: ilusm source to ILBC, in Python (the bootstrap's trusted root)."""
