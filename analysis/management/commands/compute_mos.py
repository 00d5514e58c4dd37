"""``manage.py compute_mos``: score any long CSV of ratings offline (see analysis.offline).

``manage.py`` hands ``compute_mos`` to :func:`analysis.offline.main` before Django starts, so
this class only serves ``call_command("compute_mos", ...)`` and ``manage.py help``; both run the
same code with the same options.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis import offline


class Command(BaseCommand):
    help = offline.build_parser().description or ""

    def add_arguments(self, parser: CommandParser) -> None:
        for action in offline.build_parser()._actions:
            if action.dest == "help":
                continue
            kwargs: dict[str, Any] = {"help": action.help, "default": action.default, "dest": action.dest}
            if action.nargs == 0:
                kwargs["action"] = "store_true"
            else:
                kwargs.update(required=action.required, type=action.type, choices=action.choices)
                if isinstance(action.default, list):
                    kwargs["action"] = "append"
            parser.add_argument(*action.option_strings, **kwargs)

    def handle(self, *args: Any, **options: Any) -> None:
        argv: list[str] = []
        for action in offline.build_parser()._actions:
            value = options.get(action.dest)
            if action.dest == "help" or value is None or value is False or value == []:
                continue
            if action.nargs == 0:
                argv.append(action.option_strings[0])
            elif isinstance(value, list):
                for item in value:
                    argv += [action.option_strings[0], str(item)]
            else:
                argv += [action.option_strings[0], str(value)]
        status = offline.main(argv, prog="manage.py compute_mos")
        if status:
            raise CommandError("compute_mos failed (see the message above)", returncode=status)
