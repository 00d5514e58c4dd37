"""The participant's language: which of the study's languages, and the study's own texts in it.

The interface texts come from Django's catalogues (locale/); the study's own texts (consent,
instructions, questions, scale labels, practice feedback) are the researcher's, per language, in
`Study.translations`. The study's first language is the one of its plain fields.

The catalogues hold the participant-facing texts only; regenerate them with
    python manage.py makemessages -l zh_Hans -l de --no-location --no-obsolete -i ".venv/*" -i "var/*"
      -i "tests/*" -i "bench/*" -i "docs/*" -i "analysis/*" -i "experiments/*" -i "templates/experiments/*"
      -i "templates/analysis/*" -i "templates/registration/*" -i "templates/pilot/*"
      -i "ratings/pilot*" -i "pilot/*" -i "ratings/admin.py" -i "ratings/models.py"
      -i "ratings/forms.py" -i "ratings/management/*" -i "scripts/*" -i "static/*"
then translate every new entry and run `python manage.py compilemessages` (tests/ratings/
test_translations.py fails on an untranslated entry or a stale .mo).
"""

import copy
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import get_supported_language_variant
from django.utils.translation.trans_real import parse_accept_lang_header

from experiments.models import Study

# The study's texts that may be given per language (plain model fields).
TEXT_FIELDS = ("title", "description", "consent_text", "instructions", "training_feedback")


def supported_languages() -> dict[str, str]:
    """{code: name in that language} of the languages the participant pages are translated to."""
    return dict(settings.PARTICIPANT_LANGUAGES)


def study_languages(study: Study) -> list[str]:
    """The study's languages that the pages support, in the study's order (at least one)."""
    known = supported_languages()
    found = [code for code in (study.languages or []) if code in known]
    return found or [settings.LANGUAGE_CODE]


def _variant(code: str) -> str | None:
    try:
        return get_supported_language_variant(code.lower())
    except LookupError:
        return None


def language_pick(*, study: Study, request: HttpRequest, asked: str = "") -> str:
    """The language to show: the one asked for (the entry page's switch) if the study has it,
    else the first of the study's languages that the browser prefers, else the study's first."""
    offered = study_languages(study)
    if asked and _variant(asked) in offered:
        return str(_variant(asked))
    header = request.headers.get("Accept-Language", "")
    for code, _q in parse_accept_lang_header(header):
        variant = _variant(code) if code != "*" else None
        if variant in offered:
            return str(variant)
    return offered[0]


def _text(translated: dict[str, Any], key: str, default: Any) -> Any:
    value = translated.get(key)
    return value if value not in (None, "", []) else default


def study_in(study: Study, language: str) -> Study:
    """A copy of the study, for display only, with its own texts in `language` (falling back to
    the study's first language for any text not given). Never save it."""
    translated = (study.translations or {}).get(language) or {}
    if not translated or language == study_languages(study)[0]:
        return study
    shown = copy.copy(study)
    for name in TEXT_FIELDS:
        setattr(shown, name, _text(translated, name, getattr(study, name)))
    labels = translated.get("scale_labels")
    if isinstance(labels, list) and len(labels) == len(study.scale_labels or []):
        shown.scale_labels = [str(label) for label in labels]
    shown._display_only = True  # type: ignore[attr-defined]
    return shown


def perspectives_in(perspectives: list[dict[str, Any]], study: Study, language: str) -> list[dict[str, Any]]:
    """The trial page's perspectives with label, question and level descriptions in `language`."""
    if language == study_languages(study)[0]:
        return perspectives
    own = ((study.translations or {}).get(language) or {}).get("perspectives") or {}
    shown = []
    for p in perspectives:
        t = own.get(p["key"]) or {}
        levels = t.get("level_descriptions")
        shown.append(
            {
                **p,
                "label": _text(t, "label", p["label"]),
                "question": _text(t, "question", p["question"]),
                "levels": levels
                if isinstance(levels, list) and len(levels) == len(p["levels"])
                else p["levels"],
            }
        )
    return shown
