# Precision allocation (ratings.precision): the mode, its per-image bounds and per-perspective targets.
# Depends on both 0003 leaves (it also merges them).
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0006_study_sharing_archive_panel_warning"),
    ]

    operations = [
        migrations.AddField(
            model_name="study",
            name="precision_min_ratings",
            field=models.PositiveIntegerField(
                default=5, help_text="Precision mode: valid ratings every image gets at least"
            ),
        ),
        migrations.AddField(
            model_name="study",
            name="precision_max_ratings",
            field=models.PositiveIntegerField(
                default=40, help_text="Precision mode: valid ratings no image gets more than"
            ),
        ),
        migrations.AlterField(
            model_name="study",
            name="allocation_mode",
            field=models.CharField(
                choices=[
                    ("balanced", "Balanced subsets"),
                    ("full", "Every participant rates everything"),
                    ("precision", "Precision: more ratings where the MOS is still uncertain"),
                ],
                default="balanced",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="perspective",
            name="target_half_width",
            field=models.FloatField(blank=True, null=True),
        ),
    ]
