"""Checks shared by the settings form and the study API (Django ValidationError, in words)."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# The study's own texts that may be given per language (see ratings.languages).
TRANSLATION_KEYS = {
    "title",
    "description",
    "consent_text",
    "instructions",
    "training_feedback",
    "scale_labels",
    "perspectives",
    "questionnaire",
}


def languages_validate(value: Any) -> list[str]:
    """A non-empty list of the participant pages' language codes, without repeats."""
    known = dict(settings.PARTICIPANT_LANGUAGES)
    if not isinstance(value, list) or not value:
        raise ValidationError(_("Give at least one language."))
    unknown = [code for code in value if code not in known]
    if unknown:
        raise ValidationError(
            _("Unknown language code(s): %(codes)s; known: %(known)s")
            % {"codes": ", ".join(map(str, unknown)), "known": ", ".join(known)}
        )
    if len(set(value)) != len(value):
        raise ValidationError(_("Each language once."))
    return list(value)


def translations_validate(value: Any, questionnaire: list[dict[str, Any]] | None) -> dict[str, Any]:
    """{language code: {text name: text}}; translated questions with one text per option.

    Question keys are checked against `questionnaire` (the saved questions) where they exist: a
    question added in the same save is not known yet, and a translation of a question that does not
    exist is never shown.
    """
    known = dict(settings.PARTICIPANT_LANGUAGES)
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValidationError(_("Give one object of texts per language code."))
    for code, texts in value.items():
        if code not in known:
            raise ValidationError(_("Unknown language code: %(code)s") % {"code": code})
        unknown = set(texts) - TRANSLATION_KEYS
        if unknown:
            raise ValidationError(
                _("Unknown text(s) for %(code)s: %(keys)s")
                % {"code": code, "keys": ", ".join(sorted(unknown))}
            )
        _questionnaire_check(code, texts.get("questionnaire"), questionnaire or [])
    return value


def _questionnaire_check(code: str, given: Any, questionnaire: list[dict[str, Any]]) -> None:
    if given is None:
        return
    if not isinstance(given, dict):
        raise ValidationError(_("%(code)s: questionnaire must map question keys to texts.") % {"code": code})
    questions = {str(q.get("key")): q for q in questionnaire}
    for key, texts in given.items():
        if not isinstance(texts, dict) or not isinstance(texts.get("label", ""), str):
            raise ValidationError(
                _('%(code)s: question %(key)s needs {"label": "…", "choices": ["…"]}.')
                % {"code": code, "key": key}
            )
        question = questions.get(key)
        if question is None:
            continue
        choices = texts.get("choices")
        wanted = len(question.get("choices", []))
        if choices is not None and (not isinstance(choices, list) or len(choices) != wanted):
            raise ValidationError(
                _("%(code)s: question %(key)s needs %(n)s options, one per option of the question.")
                % {"code": code, "key": key, "n": wanted}
            )
