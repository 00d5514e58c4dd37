from django import template

from analysis.models import AnalysisRun
from analysis.selectors import analysis_run_latest
from experiments.models import Study

register = template.Library()


@register.simple_tag
def latest_analysis_run(study: Study) -> AnalysisRun | None:
    """The study's most recent analysis run, for the dashboard card."""
    return analysis_run_latest(study=study)
