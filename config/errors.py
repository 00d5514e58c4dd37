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


class JobQueueDown(DomainError):
    """The request was accepted and saved, but its background job could not be queued (the
    broker is down): answered with 503. A periodic sweep queues the saved job later."""

    code = "job_queue_unavailable"
