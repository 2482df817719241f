"""The serving image's repository: the one default, and the variable that overrides it.

Stdlib only, so the CLI's option defaults can name it without loading the image module.
"""

from __future__ import annotations

DEFAULT_IMAGE_REPOSITORY = "llmctl/vllm"
IMAGE_REPOSITORY_ENV = "LLMCTL_IMAGE_REPOSITORY"  # what --image-repository defaults to
