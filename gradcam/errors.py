"""The one exception type that reaches the user as a single clear line, and the one place that
turns errors into exit statuses for the CLI and every script."""

import os
import sys
from pathlib import Path

# API arguments whose command-line flag is not their name with dashes
FLAGS = {"input_size": "--image-size"}


class UserError(Exception):
    """A problem with what the user asked for or gave us: printed as one line, never a traceback.

    Where the message names the argument to change, it writes ``{argument}``: the Python API shows
    the argument's name there ("num_classes"), the command line its flag ("--num-classes").
    """

    def __init__(self, message, argument=None):
        self.template, self.argument = message, argument
        super().__init__(message.replace("{argument}", argument) if argument else message)

    def for_command_line(self):
        """The message with the argument written as its command-line flag."""
        if not self.argument:
            return str(self)
        flag = FLAGS.get(self.argument, "--" + self.argument.replace("_", "-"))
        return self.template.replace("{argument}", flag)


def exit_status(run, prog=None):
    """Call ``run()`` and return a process exit status.

    A UserError or OSError (a file, directory or network problem) is one line on stderr and status
    2; Ctrl-C is 130; anything else is a bug of ours: one line and status 1, or the traceback when
    GRADCAM_DEBUG is set.
    """
    prog = prog or Path(sys.argv[0]).name
    try:
        return run() or 0
    except UserError as exc:
        print(f"{prog}: error: {exc.for_command_line()}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("GRADCAM_DEBUG"):
            raise
        print(
            f"{prog}: internal error: {type(exc).__name__}: {exc} (GRADCAM_DEBUG=1 shows the "
            "traceback)",
            file=sys.stderr,
        )
        return 1
