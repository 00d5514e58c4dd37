"""Rich feedback answers (issue 17): the shapes a trial's annotations may take, checked before
anything is stored.

regions: {"points": [[x, y], ...], "nothing": false}, x and y in [0, 1] of the image's width and
height (origin top-left), 1 to MAX_POINTS points; {"points": [], "nothing": true} is the explicit
"nothing to mark".
words: {"tokens": [i, ...], "nothing": false}, unique indices into
`tokenize_prompt(prompt_shown)`; {"tokens": [], "nothing": true} is "all words shown".
"""

import math
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from analysis.stats.rich import tokenize_prompt
from experiments.models import AnnotationTask
from ratings.exceptions import InvalidAnswers

MAX_POINTS = 20
Kind = AnnotationTask.Kind


@dataclass(frozen=True)
class TaskRef:
    """A study's annotation task as the submission path needs it."""

    id: int
    key: str
    kind: str


@dataclass(frozen=True)
class CleanAnswer:
    """One task's answer, normalised: points as floats, tokens sorted."""

    task: TaskRef
    nothing: bool
    points: list[list[float]]
    tokens: list[int]

    def stored_form(self) -> tuple[bool, list[list[float]], list[int]]:
        return self.nothing, self.points, self.tokens


def tasks_from_rows(rows: list[str]) -> list[TaskRef]:
    """Tasks from "id:kind:key" strings (the submission query's compact form; keys are slugs)."""
    refs = []
    for row in rows:
        task_id, kind, key = row.split(":", 2)
        refs.append(TaskRef(id=int(task_id), key=key, kind=kind))
    return refs


def annotations_clean(*, tasks: list[TaskRef], annotations: Any, prompt: str) -> list[CleanAnswer]:
    """Every task answered once, nothing else, each in its task's shape; InvalidAnswers otherwise.

    A study without tasks takes no annotations (absent, null or {}).
    """
    if not tasks:
        if annotations not in (None, {}):
            raise InvalidAnswers(_("This study asks for no annotations; send none."))
        return []
    keys = [t.key for t in tasks]
    if not isinstance(annotations, dict) or set(annotations) != set(keys):
        raise InvalidAnswers(_("Answer every annotation task once: %(keys)s.") % {"keys": ", ".join(keys)})
    cleaned = []
    for task in tasks:
        answer = annotations[task.key]
        if task.kind == Kind.REGIONS:
            cleaned.append(_regions(task, answer))
        else:
            cleaned.append(_words(task, answer, n_tokens=len(tokenize_prompt(prompt))))
    return cleaned


def _fields(task: TaskRef, answer: Any, list_name: str) -> tuple[list[Any], bool]:
    if not isinstance(answer, dict) or set(answer) - {list_name, "nothing"} or list_name not in answer:
        raise InvalidAnswers(
            _('The answer to %(key)s must be an object with "%(list)s" and "nothing".')
            % {"key": task.key, "list": list_name}
        )
    items, nothing = answer[list_name], answer.get("nothing", False)
    if not isinstance(items, list):
        raise InvalidAnswers(
            _('"%(list)s" of %(key)s must be a list.') % {"key": task.key, "list": list_name}
        )
    if not isinstance(nothing, bool):
        raise InvalidAnswers(_('"nothing" of %(key)s must be true or false.') % {"key": task.key})
    if nothing and items:
        raise InvalidAnswers(
            _('%(key)s: "nothing" is true but %(list)s are given; send one or the other.')
            % {"key": task.key, "list": list_name}
        )
    if not nothing and not items:
        raise InvalidAnswers(
            _('%(key)s has no answer: mark something, or say so explicitly with "nothing": true.')
            % {"key": task.key}
        )
    return items, nothing


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _regions(task: TaskRef, answer: Any) -> CleanAnswer:
    items, nothing = _fields(task, answer, "points")
    if len(items) > MAX_POINTS:
        raise InvalidAnswers(
            _("%(key)s takes at most %(max)d points.") % {"key": task.key, "max": MAX_POINTS}
        )
    points: list[list[float]] = []
    for point in items:
        if not isinstance(point, list) or len(point) != 2 or not all(_number(v) for v in point):
            raise InvalidAnswers(_("Each point of %(key)s must be [x, y], two numbers.") % {"key": task.key})
        if not all(0 <= v <= 1 for v in point):
            raise InvalidAnswers(
                _("The points of %(key)s must lie on the image: x and y between 0 and 1.") % {"key": task.key}
            )
        points.append([float(point[0]), float(point[1])])
    return CleanAnswer(task=task, nothing=nothing, points=points, tokens=[])


def _words(task: TaskRef, answer: Any, *, n_tokens: int) -> CleanAnswer:
    items, nothing = _fields(task, answer, "tokens")
    if not all(_number(i) and i == int(i) for i in items):
        raise InvalidAnswers(_("The tokens of %(key)s must be whole numbers.") % {"key": task.key})
    tokens = sorted(int(i) for i in items)
    if len(set(tokens)) != len(tokens):
        raise InvalidAnswers(_("The tokens of %(key)s must not repeat.") % {"key": task.key})
    if tokens and not (tokens[0] >= 0 and tokens[-1] < n_tokens):
        raise InvalidAnswers(
            _("The tokens of %(key)s must be word positions of the prompt, 0 to %(last)d.")
            % {"key": task.key, "last": n_tokens - 1}
        )
    return CleanAnswer(task=task, nothing=nothing, points=[], tokens=tokens)
