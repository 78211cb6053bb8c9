"""Drop the table of DRF's old tokens (`rest_framework.authtoken`, no longer
installed): it kept every key in plain text, which nothing accepts any more and a
copy of the database would hand out (docs/security.md). Their users create new
tokens, which are stored hashed (verification.ApiToken)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("verification", "0002_api_token")]

    operations = [
        migrations.RunSQL(
            "DROP TABLE IF EXISTS authtoken_token", reverse_sql=migrations.RunSQL.noop
        )
    ]
