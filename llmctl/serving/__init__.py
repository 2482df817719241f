"""The vLLM serving side: the flag table per pinned vLLM version and the in-image launcher.

`flags.py` and `launcher.py` (and this file) are copied into the serving image as the
`llmctl_serving` package, so they use the standard library only and import each other
relatively. `config.py` builds the serving config from the IR and stays outside the image.
"""
