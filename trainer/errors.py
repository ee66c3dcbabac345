"""The one exception a user should ever see from the trainer: printed as one line, exit status 2."""


class UserError(Exception):
    """A mistake or missing thing the user can fix; the message says what to do. Never a bug."""


def one_line(error: object, limit: int = 300) -> str:
    """An error's text on one line, cut at `limit` characters (torch's and pip's run to many lines)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
