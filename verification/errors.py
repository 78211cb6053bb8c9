"""What a review action answers when it cannot be done (HTTP status on each)."""

from captions.models import Caption


class ReviewError(Exception):
    """A review action that cannot be done; `status` is the HTTP code to answer."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotYourClaim(ReviewError):
    status = 409


class StaleVersion(ReviewError):
    """Someone changed the caption since this person loaded it."""

    status = 409

    def __init__(self, caption: Caption) -> None:
        super().__init__(
            f"caption {caption.pk} was changed by someone else (now version "
            f"{caption.version}); compare and save again"
        )
        self.caption = caption
