"""Subcommands of the ``gradcam`` CLI: each module has NAME, HELP, add_arguments(p) and run(args)."""

from gradcam.commands import (
    audit,
    batch,
    beam,
    compare,
    diff,
    download,
    evaluate,
    explain,
    info,
    maximize,
    serve,
    trust,
)

COMMANDS = [
    explain,
    info,
    compare,
    maximize,
    batch,
    beam,
    evaluate,
    audit,
    trust,
    diff,
    serve,
    download,
]
