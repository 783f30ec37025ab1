"""The generators' one error: a message naming the bad value and what was expected."""


class ScaffoldError(Exception):
    """Refused input (exit 64) or a repository the generator can't edit safely (exit 65)."""

    def __init__(self, message: str, *, code: int = 64) -> None:
        super().__init__(message)
        self.code = code
