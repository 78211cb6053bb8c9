from django.apps import AppConfig


class VerificationConfig(AppConfig):
    name = "verification"
    verbose_name = "Verification"

    def ready(self) -> None:
        # The captions app asks for abilities, not roles (captions/access.py); the
        # roles are defined here, so here is where they grant them.
        from verification import roles

        roles.grant_abilities()
        # A regeneration replacing a caption is a revision in its history.
        from captions.generation.signals import replacements_written
        from verification.history import record_replacements

        replacements_written.connect(
            record_replacements, dispatch_uid="verification-replacements"
        )
        # Captions also asks what the second opinions say of its pairs (release
        # cards, QA coverage, the export's review records): they are kept here.
        from captions import review_records
        from verification import quality_statement

        review_records.register(quality_statement)
