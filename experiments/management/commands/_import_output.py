from django.core.management.base import BaseCommand, CommandError

from experiments.imports.problems import problem_text
from experiments.models import StimulusImport


def report_import(command: BaseCommand, stimulus_import: StimulusImport) -> None:
    """Print the outcome; a refused import lists every problem and exits with an error."""
    if stimulus_import.status == StimulusImport.Status.DONE:
        command.stdout.write(command.style.SUCCESS(stimulus_import.message))
        return
    for problem in stimulus_import.problems:
        command.stderr.write(f"  {problem_text(problem)}")
    raise CommandError(stimulus_import.message)
