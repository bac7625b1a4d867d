"""The ILBC image: its model, the reader and writer, the verifier, the disassembler and the differ."""
