"""``gradcam`` command line: subcommands live in gradcam/commands, one module each.

Errors the user can fix are one line on stderr with exit status 2; ``GRADCAM_DEBUG=1`` shows the
traceback of an unexpected failure.
"""

import argparse
import sys
import warnings

from gradcam.commands import COMMANDS
from gradcam.commands.common import Parser, load_user_modules
from gradcam.errors import UserError, exit_status


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"gradcam: warning: {message}", file=sys.stderr)


def build_parser():
    parser = Parser(
        prog="gradcam",
        description="Visual explanations of TensorFlow image classifiers.",
        epilog="Any command takes --register-module FILE.py (repeatable): a Python file "
        "that calls nets.nets_factory.register_network, adding --model choices.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS:
        command = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv=None, *, load_model=None):
    """Run the ``gradcam`` command line on ``argv`` (default: ``sys.argv[1:]``); returns the exit
    status.

    Args:
        argv: the arguments after ``gradcam``.
        load_model: a function of the parsed arguments returning the ``gradcam.Model`` every
            command uses instead of building the one its model flags name (the flags are still
            checked); for programs and tests that already hold a model.
    """
    warnings.showwarning = _one_line_warning

    def run():
        argv_ = load_user_modules(argv)  # registers their networks before --model choices exist
        args, extra = build_parser().parse_known_args(argv_)
        if extra and not getattr(
            args, "pass_unknown_args", False
        ):  # only `gradcam beam` takes them
            raise UserError(f"unrecognized arguments: {' '.join(extra)}")
        args.extra_args = extra
        args.model_loader = load_model
        return args.run(args)

    return exit_status(run, "gradcam")


if __name__ == "__main__":
    sys.exit(main())
