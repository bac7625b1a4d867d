"""The ilusm library sources (`.ilu`), installed as package data `ilusm_lib`."""
