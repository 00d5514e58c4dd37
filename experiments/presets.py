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

# The preset's texts in Simplified Chinese (the language of the AIGCIQA2023 annotation), offered to
# every new study in Study.translations; a study shows them only when it lists "zh-hans".
AIGCIQA2023_TRANSLATIONS = {
    "zh-hans": {
        "scale_labels": ["差", "较差", "一般", "好", "非常好"],
        "perspectives": {
            "quality": {
                "label": "质量",
                "question": "这张图像的感知质量如何：清晰度、轮廓与内容是否可辨认、细节是否丰富？",
                "level_descriptions": [
                    "非常模糊；轮廓无法分辨；细节严重缺失",
                    "模糊；轮廓难以分辨；细节较少",
                    "较清晰；轮廓基本可分辨；有一些细节",
                    "清晰；轮廓可分辨；细节丰富",
                    "非常清晰；轮廓清楚可辨；细节非常丰富",
                ],
            },
            "authenticity": {
                "label": "真实性",
                "question": "这张图像看起来有多真实，是否没有生成造成的失真？",
                "level_descriptions": [
                    "严重失真；明显是人工生成的",
                    "多处明显失真",
                    "部分失真",
                    "轻微失真；基本真实",
                    "基本无失真；看起来很真实",
                ],
            },
            "correspondence": {
                "label": "一致性",
                "question": "这张图像与其文本提示词的匹配程度如何？",
                "level_descriptions": [
                    "与提示词严重不一致",
                    "与提示词大部分不一致",
                    "与提示词部分不一致",
                    "与提示词大部分一致",
                    "与提示词基本一致",
                ],
            },
        },
    }
}
