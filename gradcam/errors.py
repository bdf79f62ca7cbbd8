"""The one exception type that reaches the user as a single clear line (exit status 2)."""


class UserError(Exception):
    """A problem with what the user asked for or gave us: printed as one line, never a traceback."""
