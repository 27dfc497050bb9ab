"""The exception types commands turn into a one-line message and a non-zero exit."""


class EdgeError(Exception):
    """Bad input or an unusable environment, explained in one line for the user."""


class MissingExtra(EdgeError):
    """An optional part of the package is not installed. Its message is a whole line that
    names the command itself ("edge train needs the train extra: ..."), printed as it is."""
