"""The one exception a user sees as a message instead of a traceback."""


class UserError(Exception):
    """A problem the user can fix; the message names it and says what to do."""
