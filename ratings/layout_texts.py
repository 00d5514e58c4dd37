"""What the participant is told by the layout rule (static/js/trial.js ``fit``): the entry page,
the display check and the trial page use the same texts. ``%(name)s`` are filled in the browser
from ``fit``'s result: ``image`` (image pixels), ``minimum`` (the smallest window that shows the
image at full size with the questions) and ``window`` (the window, or on the entry page the
screen)."""

from django.utils.translation import gettext as _


def layout_texts() -> dict[str, str]:
    return {
        "too_small": _(
            "This window is too small to show the images at full size with the questions. "
            "Please make the browser window at least %(minimum)s (it is %(window)s now)."
        ),
        "use_computer": _(
            "This screen is too small to show the study's images at full size (%(image)s image pixels) "
            "with the questions, which need at least %(minimum)s. "
            "Please take part on a computer with a larger screen."
        ),
        "fits": _(
            "Your window (%(window)s) shows the images at full size with the questions. You can continue."
        ),
    }
