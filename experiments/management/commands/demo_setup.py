from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandParser

from experiments.demo import demo_study_create
from experiments.models import Study


class Command(BaseCommand):
    help = (
        "Create the demo researcher and the two demo studies (demo; demo-rich, with rich feedback) "
        "if they are missing (safe to run again)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", required=True)

    def handle(self, *args: Any, username: str, password: str, **options: Any) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        user.set_password(password)
        # Staff with the study apps' permissions: the admin at /admin/ works for the demo login,
        # scoped to the demo researcher's own studies (experiments.admin). Not a superuser.
        user.is_staff = True
        user.save()
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label__in=["experiments", "ratings", "analysis", "pilot"]
            )
        )
        for slug, rich in (("demo", False), ("demo-rich", True)):
            if not Study.objects.filter(slug=slug).exists():
                study = demo_study_create(owner=user, slug=slug, rich=rich)
                self.stdout.write(f"created the demo study {slug} with {study.stimuli.count()} stimuli")
            else:
                self.stdout.write(f"the demo study {slug} exists already")
        if created:
            self.stdout.write(f"created researcher {username}")
