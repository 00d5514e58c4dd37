"""The AIGCIQA2023 preset: three perspectives with the anchor wording of the authors' annotation."""

from django.utils.translation import gettext_lazy as _

ACR_LABELS = [_("Bad"), _("Poor"), _("Fair"), _("Good"), _("Excellent")]

AIGCIQA2023_PERSPECTIVES = [
    {
        "key": "quality",
        "label": _("Quality"),
        "question": _(
            "How good is the perceptual quality of this image: clarity, recognisable outlines and content, rich detail?"
        ),
        "level_descriptions": [
            _("Very blurry; outlines cannot be distinguished; details severely lacking"),
            _("Blurry; outlines hard to distinguish; few details"),
            _("Somewhat clear; outlines mostly distinguishable; some details"),
            _("Clear; outlines distinguishable; rich details"),
            _("Very clear; outlines clearly distinguishable; very rich details"),
        ],
    },
    {
        "key": "authenticity",
        "label": _("Authenticity"),
        "question": _("How real does this image look, free of generation distortions?"),
        "level_descriptions": [
            _("Highly distorted; obviously artificial"),
            _("Clearly distorted in several places"),
            _("Partially distorted"),
            _("Slightly distorted; mostly realistic"),
            _("Essentially distortion-free; looks real"),
        ],
    },
    {
        "key": "correspondence",
        "label": _("Correspondence"),
        "question": _("How well does this image match its text prompt?"),
        "level_descriptions": [
            _("Highly inconsistent with the prompt"),
            _("Mostly inconsistent with the prompt"),
            _("Partially inconsistent with the prompt"),
            _("Mostly consistent with the prompt"),
            _("Essentially consistent with the prompt"),
        ],
    },
]

# AIGCIQA2023 image N = 400*m + 4*p + k, with m in this order (docs/protocol.md section 1).
AIGCIQA2023_MODELS = ["Controlnet", "DALLE", "Glide", "Lafite", "stable-diffusion", "Unidiffuser"]
