"""Domain errors of the participant flow (mapped to 400 / 409 with their message and code)."""

from config.errors import ConflictError, DomainError


class StudyNotOpen(DomainError):
    code = "study_not_open"


class StudyFull(DomainError):
    """Every stimulus has its target number of ratings (or is being rated): no session to give."""

    code = "study_full"


class PanelLinkInvalid(DomainError):
    code = "panel_link_invalid"


class InvalidAnswers(DomainError):
    code = "invalid_answers"


class TrialNotFound(DomainError):
    code = "no_such_trial"


class TrialOutOfOrder(ConflictError):
    code = "out_of_order"


class TrialAlreadyAnswered(ConflictError):
    """Another answer (another device, another key) was stored first; this one is not."""

    code = "already_answered"


class IdempotencyKeyReused(ConflictError):
    code = "key_reused"


class SessionNotRating(ConflictError):
    code = "not_rating"
