# The Job model now belongs to the jobs app (jobs 0001 took over its table); the
# modeling app forgets it without touching the database.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('modeling', '0002_job_worker_and_model_pool'),
        ('jobs', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='Job')],
            database_operations=[],
        ),
    ]
