"""The command-line shell: parse flags, make one library call, show the result."""
