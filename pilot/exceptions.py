"""The pilot's domain errors (mapped to 400/409/503 like every DomainError)."""

from django.utils.translation import gettext as _

from config.errors import ConflictError, DomainError, JobQueueDown
from ratings.pilot_links import PilotLinkInvalid

__all__ = ["PilotBusy", "PilotInvalid", "PilotLinkInvalid", "PilotQueueUnavailable"]


class PilotInvalid(DomainError):
    code = "pilot_invalid"


class PilotBusy(ConflictError):
    code = "pilot_busy"


class PilotQueueUnavailable(JobQueueDown):
    """The pilot is saved as pending, but its job could not be queued."""

    def __init__(self, run_id: int) -> None:
        super().__init__(
            _(
                "The job queue is unavailable, so pilot %(id)s could not start yet. It is saved and "
                "starts automatically when the queue is back."
            )
            % {"id": run_id}
        )
        self.run_id = run_id
