"""The one error type of the local runtime: a message for a person, no traceback."""


class LocalRuntimeError(RuntimeError):
    """Raised with a message that tells the user what went wrong and what to do."""
