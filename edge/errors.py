"""The one exception type commands turn into a one-line message and a non-zero exit."""


class EdgeError(Exception):
    """Bad input or an unusable environment, explained in one line for the user."""
