"""llmctl: Terraform for LLMs."""

__version__ = "0.1.0"
