# modeling_job becomes jobs_job, the jobs app's own table name.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_initial'),
        ('modeling', '0003_job_moves_to_jobs_app'),
    ]

    operations = [
        migrations.AlterModelTable(name='job', table=None),
    ]
