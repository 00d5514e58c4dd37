# Running sums of valid raw scores per (stimulus, perspective) for precision allocation.
# Depends on every ratings leaf (it also merges them).
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0007_precision_allocation"),
        ("ratings", "0009_participant_panel_decision"),
    ]

    operations = [
        migrations.CreateModel(
            name="StimulusSums",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("n", models.IntegerField(default=0)),
                ("s1", models.FloatField(default=0.0)),
                ("s2", models.FloatField(default=0.0)),
                (
                    "perspective",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="experiments.perspective"
                    ),
                ),
                (
                    "stimulus",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="experiments.stimulus",
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="experiments.study"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("stimulus", "perspective"), name="one_sums_row_per_perspective")
                ],
            },
        ),
    ]
