"""The one exception a user should ever see from the trainer: printed as one line, exit status 2."""


class UserError(Exception):
    """A mistake or missing thing the user can fix; the message says what to do. Never a bug."""
