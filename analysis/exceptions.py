from config.errors import ConflictError, DomainError


class AnalysisRunInvalid(DomainError):
    """A run that cannot start as asked: unknown method, bad parameters, nothing to analyse."""

    code = "analysis_invalid"


class JobQueueUnavailable(ConflictError):
    """The broker refused the job; the run is saved as pending and the sweep enqueues it later."""

    code = "job_queue_unavailable"

    def __init__(self, run_id: int) -> None:
        super().__init__(
            f"The job queue is unavailable, so analysis run {run_id} could not be started yet. "
            "It is saved as pending and starts automatically when the queue is back."
        )
        self.run_id = run_id


class ClaimLost(Exception):
    """Another worker claimed the run (this one was presumed dead); stop without writing."""
