"""The reference interpreter: loading an image into runtime prototypes, the VM loop and its opcode handlers."""
