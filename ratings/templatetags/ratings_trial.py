"""Template helpers of the trial include: the scale levels and the trial script's configuration."""

from typing import Any

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from analysis.stats.rich import tokenize_prompt
from experiments.models import Study
from ratings.annotations import MAX_POINTS
from ratings.layout_texts import layout_texts
from ratings.selectors import scale_levels as _scale_levels

register = template.Library()


@register.simple_tag
def scale_levels(study: Study) -> list[dict[str, Any]]:
    return _scale_levels(study)


@register.filter
def nth(items: list[Any] | None, index: int) -> Any:
    """items[index], or "" past the end (a level without a description)."""
    return items[index] if items and 0 <= index < len(items) else ""


@register.simple_tag
def prompt_tokens(prompt: str) -> list[str]:
    """The prompt's words as the words task shows them (indices are what a participant marks)."""
    return tokenize_prompt(prompt or "")


@register.simple_tag
def task_of_kind(tasks: list[dict[str, Any]] | None, kind: str) -> dict[str, Any] | None:
    """The study's annotation task of this kind (regions: the image takes clicks and keys; words:
    the prompt is shown as toggles), or None."""
    return next((t for t in tasks or [] if t["kind"] == kind), None)


@register.simple_tag
def trial_config(
    study: Study,
    stimulus: Any,
    prompt: str,
    perspectives: list[dict[str, Any]],
    preview: bool,
    annotation_tasks: list[dict[str, Any]] | None = None,
) -> SafeString:
    """The JSON the trial script reads (id "trial-config"): scale, perspectives, texts."""
    config: dict[str, Any] = {
        "preview": bool(preview),
        "any_device": study.device_policy == Study.DevicePolicy.ANY,
        "min_viewing_ms": study.min_viewing_ms,
        "scale": {
            "kind": study.scale_kind,
            "min": study.scale_min,
            "max": study.scale_max,
            "levels": _scale_levels(study) if study.scale_kind == Study.ScaleKind.INTEGER else [],
        },
        "perspectives": [{"key": p["key"], "label": str(p["label"])} for p in perspectives],
        "max_points": MAX_POINTS,
        "stimulus": {
            "url": stimulus.image_url,
            "width": stimulus.width,
            "height": stimulus.height,
            "prompt": prompt,
            "tokens": tokenize_prompt(prompt or ""),
        },
        "texts": {
            "answer_all": _("Answer every question to continue."),
            "keep_looking": _("Please keep looking at the image for a moment."),
            "ready": _("Ready: press Next (or Enter)."),
            "preview_complete": _("All answers complete. This is a preview: nothing was sent."),
            "too_small": layout_texts()["too_small"],
            "use_computer": layout_texts()["use_computer"],
            "loading": _("Loading the image…"),
        },
    }
    if annotation_tasks:
        # Only with tasks: the longest hint sets the measured panel's height (the layout rule).
        config["texts"].update(
            {
                "answer_tasks": _("Answer the marking tasks too (or say there is nothing to mark)."),
                "marks": _("%(n)s marks."),
                "one_mark": _("1 mark."),
                "no_marks": _("No marks yet."),
                "max_marks": _("%(n)s marks: the most you can place. Remove one to place another."),
                "remove_mark": _("Remove mark %(n)s"),
            }
        )
    return json_script(config, "trial-config")
