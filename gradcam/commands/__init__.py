"""Subcommands of the ``gradcam`` CLI: each module has NAME, HELP, add_arguments(p) and run(args)."""

from gradcam.commands import (
    batch,
    beam,
    compare,
    evaluate,
    explain,
    info,
    maximize,
    serve,
    trust,
)

COMMANDS = [explain, info, compare, maximize, batch, beam, evaluate, serve, trust]
