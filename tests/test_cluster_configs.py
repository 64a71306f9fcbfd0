"""The static cluster side: Ray cluster configs, KubeRay manifest, Dockerfiles, MLflow compose, README.

Everything is checked against the installed packages (Ray's own autoscaler schema and config
preparation, MLflow's auth config reader), not against copies of them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "cluster"
DOCKER = REPO / "docker"
LAUNCHER_CONFIGS = sorted(p for p in CLUSTER.glob("*.yaml") if p.name != "kuberay.yaml")
IMAGE_RE = re.compile(r"ghcr\.io/[\w./-]+:[\w.-]+|\bempgan/empgan:[\w.-]+")


def image() -> str:
    return (DOCKER / "IMAGE").read_text().strip()


def load(path: Path):
    return yaml.safe_load(path.read_text())


def lock_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([\w.+!-]+)", line)
            assert m, f"{path.name}: not an exact pin: {line!r}"
            name = re.sub(r"[-_.]+", "-", m.group(1)).lower()
            assert name not in pins, f"{path.name}: {name} pinned twice"
            pins[name] = m.group(2)
    return pins


def ray_schema() -> dict:
    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


# ---------------------------------------------------------------------------------------------
# the one image tag


def test_image_tag_is_defined_once_and_matches_the_package_version():
    tag = image()
    assert re.fullmatch(r"[a-z0-9.-]+(/[a-z0-9._-]+)+:[\w][\w.-]*", tag), tag
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert tag.rsplit(":", 1)[1] == version


def test_every_file_uses_exactly_that_tag():
    files = LAUNCHER_CONFIGS + [CLUSTER / "kuberay.yaml", CLUSTER / "README.md"]
    assert len(LAUNCHER_CONFIGS) >= 2
    for path in files:
        found = IMAGE_RE.findall(path.read_text())
        assert found, f"{path.name} names no image"
        assert set(found) == {image()}, f"{path.name}: {sorted(set(found))} != {image()}"
    readme = (CLUSTER / "README.md").read_text()
    assert 'docker build -f docker/Dockerfile -t "$(cat docker/IMAGE)" .' in readme


# ---------------------------------------------------------------------------------------------
# Ray cluster launcher configs


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=lambda p: p.name)
def test_launcher_config_validates_against_rays_schema(path):
    config = load(path)
    jsonschema.validate(config, ray_schema())
    # and what `ray up` does with it before touching any machine: defaults merged, then validated
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(config)
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]

    assert config["docker"]["image"] == image()
    assert not {"head_image", "worker_image"} & set(config["docker"])
    # nothing unpinned is installed at boot: the image has everything (Ray's AWS defaults would pip install boto3)
    assert prepared["head_setup_commands"] == prepared["worker_setup_commands"] == config["setup_commands"]
    commands = "\n".join(config["setup_commands"] + config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert "pip install" not in commands
    assert "MLFLOW_TRACKING_URI" in commands and "EMPGAN_WEIGHTS_DIR" in commands
    assert "empgan weights fetch" in commands
    assert config["file_mounts"]["~/empgan.env"] == "~/.empgan/cluster.env"
    assert "--dashboard-host=0.0.0.0" in " ".join(config["head_start_ray_commands"])


def test_aws_has_a_cpu_head_and_autoscaling_1_and_4_gpu_workers():
    config = load(CLUSTER / "aws.yaml")
    assert config["provider"]["type"] == "aws"
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    assert sorted(t["resources"]["GPU"] for t in workers.values()) == [1, 4]
    for t in workers.values():
        assert t["min_workers"] == 0 < t["max_workers"] <= config["max_workers"]
        assert t["node_config"]["InstanceType"].startswith(("g", "p"))  # EC2 GPU families
    images = {t["node_config"]["ImageId"] for t in types.values()}
    assert len(images) == 1  # one AMI (with NVIDIA driver + Docker) for every type, set once
    assert "base-oss-nvidia-driver-gpu-ubuntu-24.04" in (CLUSTER / "README.md").read_text()
    assert config["auth"]["ssh_user"] == "ubuntu"


def test_onprem_lists_fixed_machines():
    from ray.autoscaler._private.util import prepare_config

    config = load(CLUSTER / "onprem.yaml")
    provider = config["provider"]
    assert provider["type"] == "local" and "available_node_types" not in config
    ips = [ipaddress.ip_address(provider["head_ip"])] + [ipaddress.ip_address(ip) for ip in provider["worker_ips"]]
    assert len(set(ips)) == len(ips) >= 2
    prepared = prepare_config(config)
    (node_type,) = prepared["available_node_types"].values()
    assert node_type["min_workers"] == node_type["max_workers"] == len(provider["worker_ips"])
    assert config["file_mounts"]["~/empgan-weights"] == "~/empgan-weights"


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=lambda p: p.name)
def test_setup_command_exports_mlflow_and_weights_and_refuses_local_uris(path, tmp_path):
    """The first setup command, run by bash as Ray runs it on a node (HOME = the node's home)."""
    command = load(path)["setup_commands"][0]
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# node's own bashrc\n")
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}

    def setup(uri: str):
        (home / "empgan.env").write_text(f"MLFLOW_TRACKING_URI={uri}\nMLFLOW_TRACKING_USERNAME=alice\n")
        return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=30)

    for uri in ("sqlite:///mlflow.db", "file:///tmp/mlruns", "", "/data/mlruns"):
        proc = setup(uri)
        assert proc.returncode == 1, uri
        assert "MLFLOW_TRACKING_URI in ~/.empgan/cluster.env must be http(s)://HOST:PORT" in proc.stderr

    assert setup("http://10.0.0.5:5000").returncode == 0
    assert setup("http://10.0.0.5:5000").returncode == 0  # re-run by every `ray up`: idempotent
    assert (home / ".bashrc").read_text().count(". ~/.empgan_profile") == 1
    # a login shell of the node (how Ray starts `ray start`) sees the variables, exported to children
    probe = subprocess.run(["bash", "-c", ". ~/.bashrc; python3 -c 'import os; print(os.environ[\"MLFLOW_TRACKING_URI\"], "
                            "os.environ[\"MLFLOW_TRACKING_USERNAME\"], os.environ[\"EMPGAN_WEIGHTS_DIR\"])'"],
                           env=env, capture_output=True, text=True, timeout=30)
    assert probe.stdout.split() == ["http://10.0.0.5:5000", "alice", f"{home}/empgan-weights"], probe.stderr


def test_env_example_holds_no_credentials():
    values = dict(line.split("=", 1) for line in (CLUSTER / "empgan.env.example").read_text().splitlines()
                  if line and not line.startswith("#"))
    assert values["MLFLOW_TRACKING_URI"].startswith("http://")
    assert values["MLFLOW_TRACKING_USERNAME"] == values["MLFLOW_TRACKING_PASSWORD"] == ""


# ---------------------------------------------------------------------------------------------
# KubeRay


def test_kuberay_manifest():
    docs = [d for d in yaml.safe_load_all((CLUSTER / "kuberay.yaml").read_text()) if d]
    assert len(docs) == 1
    rc = docs[0]
    assert rc["apiVersion"] == "ray.io/v1" and rc["kind"] == "RayCluster"
    spec = rc["spec"]
    assert spec["rayVersion"] == ray.__version__
    assert spec["enableInTreeAutoscaling"] is True

    head = spec["headGroupSpec"]
    (head_container,) = head["template"]["spec"]["containers"]
    assert head_container["image"] == image()
    assert "nvidia.com/gpu" not in head_container["resources"]["limits"]
    assert head["rayStartParams"]["num-gpus"] == "0"

    groups = spec["workerGroupSpecs"]
    gpus = []
    for group in groups:
        assert group["minReplicas"] == 0 < group["maxReplicas"]
        (container,) = group["template"]["spec"]["containers"]
        assert container["image"] == image()
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert limits["nvidia.com/gpu"] == requests["nvidia.com/gpu"]
        gpus.append(limits["nvidia.com/gpu"])
    assert sorted(gpus) == [1, 4]

    for group in [head] + groups:
        # KubeRay passes rayStartParams as strings
        assert all(isinstance(v, str) for v in group.get("rayStartParams", {}).values())
        pod = group["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["EMPGAN_WEIGHTS_DIR"].startswith("/shared/")
        assert {"secretRef": {"name": "empgan-mlflow"}} in container["envFrom"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts["/shared"]]["persistentVolumeClaim"]["claimName"] == "empgan-shared"
        assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"


# ---------------------------------------------------------------------------------------------
# images


def dockerfile_instructions(path: Path) -> list[str]:
    text = re.sub(r"\\\n", " ", path.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_gpu_dockerfile_installs_the_lock_without_resolving():
    lines = dockerfile_instructions(DOCKER / "Dockerfile")
    assert lines[0].startswith("FROM python:3.11-")
    runs = [line for line in lines if line.startswith("RUN ")]
    pip_installs = [cmd.strip() for line in runs for cmd in line[4:].split("&&") if "pip install" in cmd]
    assert pip_installs[0] == "pip install --no-deps -r requirements.lock"
    for cmd in pip_installs:  # every install is --no-deps of a pinned lock or of the package itself
        assert "--no-deps" in cmd and (re.search(r"-r \S+\.lock\b", cmd) or cmd.endswith(" ."))
    assert "COPY requirements.lock ./" in lines
    assert "COPY docker/requirements-cluster.lock ./" in lines


def test_locks_pin_the_versions_the_tests_run():
    main = lock_pins(REPO / "requirements.lock")
    assert main["ray"] == ray.__version__
    assert main["torch"] == "2.14.1"
    import torch

    assert torch.__version__.split("+")[0] == main["torch"]
    cluster = lock_pins(DOCKER / "requirements-cluster.lock")
    assert not set(cluster) & set(main), "requirements-cluster.lock repeats pins of requirements.lock"
    assert {"aiohttp-cors", "grpcio", "opencensus", "prometheus-client", "boto3"} <= set(cluster)
    assert main["setuptools"], "the build backend (pip install --no-build-isolation -e .) is pinned in the main lock"


def test_mlflow_image_pins_the_projects_mlflow():
    main = lock_pins(REPO / "requirements.lock")
    server = lock_pins(DOCKER / "mlflow" / "requirements.lock")
    assert server["mlflow"] == main["mlflow"]
    shared = set(server) & set(main)
    assert {n: server[n] for n in shared} == {n: main[n] for n in shared}
    assert {"flask-wtf", "psycopg2-binary", "boto3"} <= set(server)
    lines = dockerfile_instructions(DOCKER / "mlflow" / "Dockerfile")
    assert lines[0].startswith("FROM python:3.11-")
    assert any("pip install --no-deps -r /tmp/requirements.lock" in line for line in lines)
    assert "COPY basic_auth.ini /etc/mlflow/basic_auth.ini" in lines


def test_dockerignore_keeps_the_venv_out_of_the_build_context():
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


# ---------------------------------------------------------------------------------------------
# MLflow server compose file

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", re.I)
ONLY_REFS = re.compile(r"(\$\{[A-Z0-9_]+(:?[-?][^}]*)?\})+")


def compose():
    return load(DOCKER / "mlflow" / "compose.yaml")


def test_compose_has_postgres_and_mlflow_with_basic_auth_on_all_interfaces():
    services = compose()["services"]
    assert {"postgres", "mlflow"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    mlflow = services["mlflow"]
    command = mlflow["command"]
    assert command[:2] == ["mlflow", "server"]
    assert command[command.index("--app-name") + 1] == "basic-auth"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert any(str(p).endswith(":5000") for p in mlflow["ports"])
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"
    env = mlflow["environment"]
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    assert env["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert env["MLFLOW_AUTH_ADMIN_USERNAME"] == "${MLFLOW_TRACKING_USERNAME:?set MLFLOW_TRACKING_USERNAME in docker/mlflow/.env}"
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"].startswith("${MLFLOW_TRACKING_PASSWORD:?")
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == "/etc/mlflow/basic_auth.ini"
    assert "MLFLOW_ARTIFACTS_DESTINATION" in env
    assert mlflow["env_file"] == [{"path": "s3.env", "required": False}]


def test_compose_has_no_literal_passwords():
    text = (DOCKER / "mlflow" / "compose.yaml").read_text()
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert value and ONLY_REFS.fullmatch(str(value)), f"{name}.{key} = {value!r}"
            for userinfo in re.findall(r"://([^/@\s]+)@", str(value)):
                password = userinfo.split(":", 1)[1]
                assert ONLY_REFS.fullmatch(password), f"{name}.{key}: literal password in a URI"
    assert "password1234" not in text
    # the example env file and the auth config hold no values for secrets either
    for line in (DOCKER / "mlflow" / "env.example").read_text().splitlines():
        if line and not line.startswith("#") and SECRET_NAME.search(line.split("=")[0]):
            assert line.endswith("="), line
    gitignored = (DOCKER / "mlflow" / ".gitignore").read_text().split()
    assert ".env" in gitignored and "s3.env" in gitignored


def mlflow_auth_config_module():
    """MLflow's own auth config reader. Loaded from its file: the package `mlflow.server.auth` itself
    imports Flask-WTF, which only the server image has (mlflow[auth])."""
    import importlib.util

    import mlflow

    path = Path(mlflow.__file__).parent / "server" / "auth" / "config.py"
    spec = importlib.util.spec_from_file_location("_mlflow_auth_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_auth_config_is_read_by_mlflow_with_admin_from_the_environment(monkeypatch):
    read_auth_config = mlflow_auth_config_module().read_auth_config
    ini = DOCKER / "mlflow" / "basic_auth.ini"
    assert "admin_password" not in ini.read_text().replace("# ", "")  # no password in the file
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_USERNAME", "root-of-lab")
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "from-env-only")
    config = read_auth_config()
    assert config.admin_username == "root-of-lab" and config.admin_password == "from-env-only"
    assert config.default_permission == "READ"
    assert config.database_uri == "sqlite:////mlflow/auth/basic_auth.db"  # on the compose volume
    volumes = compose()["services"]["mlflow"]["volumes"]
    assert "mlflow-data:/mlflow" in volumes


# ---------------------------------------------------------------------------------------------
# README


def test_readme_walks_through_the_whole_procedure():
    readme = (CLUSTER / "README.md").read_text()
    for step in (
        "docker push ",
        "docker compose up -d --build",
        "ray up cluster/aws.yaml",
        "ray up cluster/onprem.yaml",
        "kubectl apply -f cluster/kuberay.yaml",
        "empgan weights fetch ",
        "--from ",
        "ray job submit --address http://localhost:8265 --working-dir . --",
        "python tune_main.py sweeps/pokemon_optuna.yaml --address auto",
        "--address ray://",
        "--address HEAD_IP:6379",
        "ray job logs -f",
        "--resume",
        "empgan table --experiment",
        "--tracking-uri http://",
        "ray down cluster/aws.yaml",
        "resources: {gpu: 1}",
        "gpu: 0.5",
        "MLFLOW_TRACKING_USERNAME",
        "sqlite:",
    ):
        assert step in readme, step
    # every repository file it names exists (but the secrets files that users create)
    for name in set(re.findall(r"`((?:cluster|docker)/[\w./-]+)`", readme)):
        if "*" not in name and name not in ("docker/mlflow/s3.env", "docker/mlflow/.env"):
            assert (REPO / name).exists(), name
