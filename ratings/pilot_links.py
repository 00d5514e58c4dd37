"""Signed pilot links: how the participant flow lets a simulated participant in.

The pilot app (`pilot/`) sits above `ratings`: it makes the links and knows which pilots are
running. The participant flow only needs to ask "is this link valid for this study now?", so the
pilot app registers its checker here when Django starts (`pilot.apps.PilotConfig.ready`) and
`ratings` never imports it. Without a registered checker every pilot link is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext as _

from config.errors import DomainError
from experiments.models import Study


class PilotLinkInvalid(DomainError):
    code = "pilot_link_invalid"


PilotLinkCheck = Callable[[Study, str], object]
_checkers: list[PilotLinkCheck] = []


def pilot_link_checker_register(check: PilotLinkCheck) -> None:
    """Use `check(study, token)` to verify pilot links; it raises PilotLinkInvalid for a bad one."""
    if check not in _checkers:
        _checkers.append(check)


def pilot_link_verify(*, study: Study, token: str) -> None:
    """Raise PilotLinkInvalid unless `token` is a live pilot link of `study`."""
    if not _checkers:
        raise PilotLinkInvalid(_("This pilot link is not valid."))
    for check in _checkers:
        check(study, token)
