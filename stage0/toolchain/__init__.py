"""The toolchain seen from the host: loading the self-hosted compiler and choosing an engine by name."""
