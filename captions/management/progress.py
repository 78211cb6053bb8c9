import sys

from tqdm import tqdm


class ProgressBar:
    """tqdm on stderr, so stdout stays clean for --json: items done, rate, ETA."""

    def __init__(self, name: str, *, unit: str, enabled: bool) -> None:
        self.name, self.unit, self.enabled = name, unit, enabled
        self.bar: tqdm | None = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def on_progress(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(
                total=total, desc=self.name, unit=self.unit, file=sys.stderr,
                dynamic_ncols=True,
            )  # fmt: skip
        self.bar.update(done - self.bar.n)
