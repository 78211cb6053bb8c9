"""The captions app's admin: one module per area, each registering its models."""

from captions.admin import (
    generated_captions,
    jobs,
    patches,
    prompt_templates,
    releases,
    scenes,
)

__all__ = [
    "generated_captions",
    "jobs",
    "patches",
    "prompt_templates",
    "releases",
    "scenes",
]
