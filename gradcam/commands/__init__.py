"""Subcommands of the ``gradcam`` CLI: each module has NAME, HELP, add_arguments(p) and run(args)."""
from gradcam.commands import explain, info

COMMANDS = [explain, info]
