"""The one error type a user sees: one line that names the input and what to do."""


class UserError(Exception):
    """A problem with what the user gave (path, key, file contents, environment).

    The command line prints ``str(error)`` on one line and exits with status 2; the
    traceback is shown only with ``--debug``.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
