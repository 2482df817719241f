"""The upstream image's pods: the real launcher package travels in the serving ConfigMap and
runs from there as is (the mounted files, with no llmctl beside them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from render_helpers import cluster_objects, containers, of_kind

from llmctl.render import kubernetes, serving_image


def test_the_configmap_carries_the_real_launcher_and_it_runs_from_the_mount(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(kubernetes, "launcher_files", serving_image.launcher_files)
    objects = cluster_objects("quickstart")["lab"]
    (config_map,) = of_kind(objects, "ConfigMap")
    (deployment,) = of_kind(objects, "Deployment")
    serving = Path(kubernetes.__file__).resolve().parents[1] / "serving"
    for name in serving_image.LAUNCHER_FILES:
        assert config_map["data"][name] == (serving / name).read_text()
    pod = deployment["spec"]["template"]["spec"]
    (launcher,) = [v for v in pod["volumes"] if v["name"] == "launcher"]
    mounts = {m["name"]: m for m in containers(deployment)[0]["volumeMounts"]}
    package = tmp_path / Path(mounts["launcher"]["mountPath"]).relative_to("/")
    package.mkdir(parents=True)
    for item in launcher["configMap"]["items"]:
        (package / item["path"]).write_text(config_map["data"][item["key"]])
    (tmp_path / "serving.json").write_text(config_map["data"]["serving.json"])
    env = {e["name"]: e["value"] for e in containers(deployment)[0]["env"] if "value" in e}
    done = subprocess.run(
        [sys.executable, "-m", "llmctl_serving.launcher", "--dry-run"],
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(package.parent),
            "LLMCTL_SERVING_CONFIG": str(tmp_path / "serving.json"),
            "VLLM_API_KEY": "from-the-upstream-key-secret",  # the pods' own key, a Secret's
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    argv = json.loads(done.stdout)
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct"]
    assert "--shutdown-timeout" in argv
    assert env["PYTHONPATH"] == str(Path(mounts["launcher"]["mountPath"]).parent)
    assert mounts["launcher"]["readOnly"] is True
