"""STAND-IN for the `docker` and `buildah` executables, used only by the build_image tests.

It builds nothing. Invoked as `standin_builder.py NAME ARGS...` (through a wrapper named
`docker` or `buildah` on a test-only PATH), it appends {"tool": NAME, "argv": ARGS} as a JSON
line to $STANDIN_BUILDER_RECORD and exits with $STANDIN_BUILDER_EXIT (default 0).
`docker buildx version` succeeds only when $STANDIN_DOCKER_HAS_BUILDX is "1", as on a
Docker CLI without the buildx plugin.
"""

from __future__ import annotations

import json
import os
import sys

tool, args = sys.argv[1], sys.argv[2:]
with open(os.environ["STANDIN_BUILDER_RECORD"], "a", encoding="utf-8") as fh:
    fh.write(json.dumps({"tool": tool, "argv": args}) + "\n")
if tool == "docker" and args[:2] == ["buildx", "version"]:
    if os.environ.get("STANDIN_DOCKER_HAS_BUILDX") != "1":
        sys.stderr.write("docker: unknown command: docker buildx\n")
        sys.exit(1)
    print("github.com/docker/buildx v0.0.0-standin")
    sys.exit(0)
sys.exit(int(os.environ.get("STANDIN_BUILDER_EXIT", "0")))
