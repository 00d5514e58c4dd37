"""Rich feedback (issue 17): the prompt's tokens as the trial page shows them and the analysis reads them.

Placeholder of the richui branch: only `tokenize_prompt`, identical to richcore's, which owns this
module and keeps its own copy at merge time.
"""

from __future__ import annotations

import unicodedata


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def tokenize_prompt(prompt: str) -> list[str]:
    """The prompt's words, in order, duplicates kept (an index identifies each).

    Split on whitespace; strip leading and trailing punctuation from each piece (inner apostrophes
    and hyphens stay); drop pieces left empty.

    >>> tokenize_prompt('A "red" cat, sitting on a mat... (dog\\'s toy) well-lit!')
    ['A', 'red', 'cat', 'sitting', 'on', 'a', 'mat', "dog's", 'toy', 'well-lit']
    """
    tokens: list[str] = []
    for piece in prompt.split():
        start, end = 0, len(piece)
        while start < end and _is_punctuation(piece[start]):
            start += 1
        while end > start and _is_punctuation(piece[end - 1]):
            end -= 1
        if start < end:
            tokens.append(piece[start:end])
    return tokens
