from typing import Any

from config.errors import ConflictError, DomainError, JobQueueDown


class StudyError(DomainError):
    """A study change that breaks a rule (bad settings, empty perspective list)."""


class TrialDesignLocked(ConflictError):
    """The trial design of a study with ratings cannot change."""

    code = "trial_design_locked"


class StudyStatusError(ConflictError):
    """A launch, pause or close that the study's current status does not allow."""

    code = "study_status"


class ImportRejected(DomainError):
    """A stimulus import with problems; `problems` lists every one of them."""

    code = "import_rejected"

    def __init__(self, problems: list[Any]) -> None:
        super().__init__(f"{len(problems)} problem(s) found; nothing was imported")
        self.problems = problems


class ImportQueueUnavailable(JobQueueDown):
    """The upload is saved as a pending import, but its job could not be queued."""

    def __init__(self, import_id: int) -> None:
        super().__init__(
            f"The job queue is unavailable, so import {import_id} could not start yet. The upload is "
            "saved and its import starts automatically when the queue is back."
        )
        self.import_id = import_id
