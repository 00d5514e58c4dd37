class DomainError(Exception):
    """A request that breaks a domain rule: answered with 400 and this message."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class ConflictError(DomainError):
    """A request that conflicts with the current state: answered with 409."""

    code = "conflict"
