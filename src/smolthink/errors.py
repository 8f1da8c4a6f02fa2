"""The one base class of the errors a user can cause and fix (a bad recipe, file, model reference, request).

Each stage keeps its own error class (ConfigError, BuildError, ModelError, ExportError, TrainingError, …) and
derives it from `UserError` as well, so the CLI needs one `except` to print any of them as `error: <message>`
with exit code 2, and lets every other exception through as a bug (traceback with `--debug`).
"""


class UserError(Exception):
    """A failure whose message is meant for the user: it names the file, row or field and what to do."""
