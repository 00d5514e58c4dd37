"""The participant catalogues (locale/): complete, and compiled from their current .po files."""

import gettext
import re
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[2] / "locale"
STRING = r'"((?:[^"\\]|\\.)*)"'


def _unquote(parts: str) -> str:
    return "".join(re.findall(STRING, parts)).encode("latin-1", "backslashreplace").decode("unicode_escape")


def po_entries(path: Path) -> list[tuple[str, list[str]]]:
    """(msgid, [msgstr forms]) of every entry but the header."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n")[1:]:
        fields = dict(
            re.findall(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) ((?:"(?:[^"\\]|\\.)*"\n?)+)', block, re.M)
        )
        if "msgid" not in fields:
            continue
        forms = [v for k, v in sorted(fields.items()) if k.startswith("msgstr")]
        entries.append((_unquote(fields["msgid"]), [_unquote(f) for f in forms]))
    return entries


@pytest.mark.parametrize("language", ["zh_Hans", "de"])
def test_every_participant_text_is_translated_and_compiled(language: str) -> None:
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    entries = po_entries(po)
    assert len(entries) > 100
    untranslated = [msgid for msgid, forms in entries if not all(forms)]
    assert untranslated == []
    with open(po.with_suffix(".mo"), "rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    for msgid, forms in entries:
        if len(forms) == 1:
            assert compiled.gettext(msgid) == forms[0], f"{language}: .mo is older than .po for {msgid!r}"
    # placeholders survive translation
    for msgid, forms in entries:
        for form in forms:
            assert sorted(re.findall(r"%\(\w+\)s", form)) == sorted(set(re.findall(r"%\(\w+\)s", msgid))) or (
                len(forms) > 1
            ), f"{language}: placeholders differ in {msgid!r}"
