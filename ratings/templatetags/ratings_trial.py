"""Template helpers of the trial include: the scale levels and the trial script's configuration."""

from typing import Any

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from experiments.models import Study
from ratings.selectors import scale_levels as _scale_levels

register = template.Library()


@register.simple_tag
def scale_levels(study: Study) -> list[dict[str, Any]]:
    return _scale_levels(study)


@register.simple_tag
def trial_config(
    study: Study, stimulus: Any, prompt: str, perspectives: list[dict[str, Any]], preview: bool
) -> SafeString:
    """The JSON the trial script reads (id "trial-config"): scale, perspectives, texts."""
    config = {
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
        "stimulus": {
            "url": stimulus.image_url,
            "width": stimulus.width,
            "height": stimulus.height,
            "prompt": prompt,
        },
        "texts": {
            "answer_all": _("Answer every question to continue."),
            "keep_looking": _("Please keep looking at the image for a moment."),
            "ready": _("Ready: press Next (or Enter)."),
            "preview_complete": _("All answers complete. This is a preview: nothing was sent."),
            "too_small": _(
                "This window is too small to show the images at full size with the questions. "
                "Please make the browser window at least %(minimum)s (it is %(window)s now)."
            ),
            "use_computer": _(
                "This screen is too small to show the study's images at full size (%(image)s image pixels). "
                "Please take part on a computer with a larger screen."
            ),
            "loading": _("Loading the image…"),
        },
    }
    return json_script(config, "trial-config")
