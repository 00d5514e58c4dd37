from django.apps import AppConfig


class PilotConfig(AppConfig):
    """Dry runs of a study with simulated participants. Sits above `ratings` and `analysis`:
    it imports both, neither imports it."""

    name = "pilot"

    def ready(self) -> None:
        from pilot.links import pilot_link_check
        from ratings.pilot_links import pilot_link_checker_register

        pilot_link_checker_register(pilot_link_check)
