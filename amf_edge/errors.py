"""The one exception type users see.

Anything a user can get wrong (a path, a preset name, a flag, a file from another tool) raises
`AmfEdgeError` with a message that says what was expected, what came, and how to fix it. The CLI prints
that message and exits 1 without a traceback; every other exception is a bug and keeps its traceback.
"""


class AmfEdgeError(Exception):
    """A user-facing error: bad input, a missing file, a contradiction between options."""
