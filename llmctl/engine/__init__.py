"""The deployment engine boundary: running the stack programs, offline under Pulumi's mocks or for
real through the Automation API.

Nothing here imports Pulumi at module import time; the functions that need it import it.
"""
