from django.db import migrations, models


def name_the_default_endpoint(apps, schema_editor):
    # A job launched without a base URL went to the default provider, which is the
    # "openai" endpoint of the default LLM_ENDPOINTS. A job with a base URL keeps no
    # endpoint: its URL was whatever a curator typed, and retrying it says to launch
    # again choosing an endpoint (captions/generation/options.py, `job_endpoint`).
    GenerationJob = apps.get_model("captions", "GenerationJob")
    GenerationJob.objects.filter(backend="openai", base_url="").update(
        endpoint="openai"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("captions", "0005_release"),
    ]

    operations = [
        migrations.AddField(
            model_name="generationjob",
            name="endpoint",
            field=models.CharField(blank=True, max_length=50),
        ),
        migrations.RunPython(name_the_default_endpoint, migrations.RunPython.noop),
    ]
