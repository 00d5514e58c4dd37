"""RatingSession.qc_failures entries were written with the key "check"; ratings.qc.QcFailure
names it "kind" (the dashboard and the analysis read "kind")."""

from django.db import migrations


def forward(apps, schema_editor):
    RatingSession = apps.get_model("ratings", "RatingSession")
    sessions = RatingSession.objects.exclude(qc_failures=[]).only("pk", "qc_failures")
    for session in sessions.iterator(chunk_size=2000):
        items = session.qc_failures if isinstance(session.qc_failures, list) else []
        fixed = [
            {("kind" if key == "check" else key): value for key, value in item.items()}
            if isinstance(item, dict)
            else item
            for item in items
        ]
        if fixed != items:
            RatingSession.objects.filter(pk=session.pk).update(qc_failures=fixed)


class Migration(migrations.Migration):
    dependencies = [("ratings", "0005_drop_redundant_indexes")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
