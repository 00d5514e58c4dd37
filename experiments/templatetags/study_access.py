"""Template access checks, so pages offer only what the user may do."""

from typing import Any

from django import template

from experiments.models import Study
from experiments.selectors import user_can_access_study

register = template.Library()


@register.simple_tag(takes_context=True)
def can_change(context: dict[str, Any], study: Study) -> bool:
    """True for the owner, editors and superusers; False for viewers."""
    user = context.get("user")
    return bool(user is not None and user_can_access_study(user=user, study=study, change=True))
