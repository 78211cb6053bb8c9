from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from verification.roles import CURATOR, ROLES, ensure_groups


class Command(BaseCommand):
    help = (
        "Create a user, or reset an existing user's password (non-interactive). A "
        "reset ends the user's sessions and API tokens."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument(
            "--role",
            choices=ROLES,
            help="annotator (reviews), curator (staff: ingest, jobs, reverts, and "
            "reviews), consumer (reads and exports through the API)",
        )
        parser.add_argument(
            "--superuser", action="store_true", help="Full access to the admin site"
        )

    def handle(self, *args, **options) -> None:
        username, password = options["username"].strip(), options["password"]
        if not username:
            raise CommandError("the username must not be empty")
        if len(password) < 8:
            raise CommandError("the password must have at least 8 characters")
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=username)
        user.set_password(password)
        if options["superuser"]:
            user.is_staff = user.is_superuser = True
        if options["role"]:
            groups = ensure_groups()
            user.groups.set([groups[options["role"]]])
            # Curators use the admin site; the others never see it.
            user.is_staff = options["role"] == CURATOR or user.is_superuser
        user.save()
        role = f" ({options['role']})" if options["role"] else ""
        if created:
            self.stdout.write(f"Created user {username!r}{role}.")
        else:
            # The new password changes the hash sessions and API tokens are checked
            # against (verification/tokens.py): both stop working, nothing to delete.
            self.stdout.write(
                f"Updated user {username!r}{role}: new password; their sessions and "
                "API tokens no longer work."
            )
