from config.errors import ConflictError, DomainError


class StudyError(DomainError):
    """A study change that breaks a rule (bad settings, empty perspective list)."""


class TrialDesignLocked(ConflictError):
    """The trial design of a study with ratings cannot change."""

    code = "trial_design_locked"


class ImportRejected(DomainError):
    """A stimulus import with problems; `problems` lists every one of them."""

    code = "import_rejected"

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s) found; nothing was imported")
        self.problems = problems
