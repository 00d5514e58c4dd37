#!/usr/bin/env python
import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["compute_mos"]:
        # Offline scoring needs no settings, database or services: skip Django's start-up
        # (docs/exports.md). `django-admin compute_mos` still reaches the management command.
        from analysis.offline import main as compute_mos

        sys.exit(compute_mos(sys.argv[2:], prog="manage.py compute_mos"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
