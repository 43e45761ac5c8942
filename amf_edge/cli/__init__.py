"""The `amf-edge` command line: one entry point, one subcommand module per job.

This package is the top of the dependency graph: it may import every stage (amf_edge, train,
convert, runtime) and nothing imports it. Each command module exposes `HELP`, `add_args(parser)` and
`run(args) -> int`, imports only cheap modules at import time (so `--help` works without torch or
other heavy dependencies), and does its work in importable library functions.
"""
