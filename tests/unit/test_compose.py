"""docker-compose.yml, Dockerfile and .dockerignore agree with the code.

CI has no Docker engine, so nothing ever starts the production stack there; these checks keep
its files from rotting: every service is built or pulled, health-checked and restarted; start-up
order waits on health; ports match what each command serves; every APPEALS_* variable a service
needs is set and every one that is set is known to a settings class (found by introspection, not
listed here); secrets have no defaults; the topics are those of shared/topics.py; Prometheus
scrapes compose services on their ports; the image's entrypoint is the project's console script.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import os
import re
import secrets
import shlex
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from shared.settings import CommonSettings
from shared.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"
# DESIGN.md "Running it": the default port of each service, used when its settings class
# does not (yet) declare a port field.
DESIGN_PORTS = {"appeals": 8000, "metrics": 8001, "routing": 8002, "notify": 8003}
LONG_RUNNING_RESTART = {"always", "unless-stopped", "on-failure"}
# Compose-spec keys this file may use; a misspelt key (`healtcheck`) is silently ignored by
# compose, so it is caught here.
SERVICE_KEYS = {
    "build",
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "depends_on",
    "healthcheck",
    "restart",
    "stop_grace_period",
    "stop_signal",
    "logging",
    "user",
    "working_dir",
    "init",
    "deploy",
    "networks",
    "ulimits",
    "labels",
    "hostname",
    "tmpfs",
    "read_only",
    "secrets",
    "configs",
    "profiles",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
TOP_LEVEL_KEYS = {"services", "volumes", "networks", "secrets", "configs", "name"}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|PRIVATE", re.IGNORECASE)
_INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


# ---------------------------------------------------------------------------- helpers


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}; $$ -> $."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        present = name in env
        if op in (":-", ":?"):
            present = present and env[name] != ""
        if present:
            return env[name]
        if op in ("?", ":?"):
            raise KeyError(f"{name} must be set: {arg}")
        return arg if op in ("-", ":-") else ""

    return _INTERPOLATION.sub(replace, value).replace("$$", "$")


def required_variables(value: str) -> set[str]:
    """Variables interpolated with ${VAR:?...} / ${VAR?...}: compose refuses to start without."""
    return {m["name"] for m in _INTERPOLATION.finditer(value) if m["op"] in ("?", ":?")}


def settings_env_names(cls: type[BaseSettings]) -> set[str]:
    """Every environment variable name a settings class reads (upper-cased)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        names.add((prefix + name).upper())
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias, field.alias]
        names.update(choice.upper() for choice in choices if isinstance(choice, str))
    return names


def settings_classes(service: str) -> list[type[BaseSettings]]:
    """CommonSettings and the service's own settings classes."""
    return [CommonSettings, *service_settings_classes(service)]


def service_settings_classes(service: str) -> list[type[BaseSettings]]:
    """BaseSettings subclasses defined in services/<service>/config.py (none if no module)."""
    if not (ROOT / "services" / service / "config.py").is_file():
        return []
    module = importlib.import_module(f"services.{service}.config")
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseSettings)
        and obj.__module__ == module.__name__
    ]


def _default_is_loopback(default: Any) -> bool:
    text = str(default)
    return any(host in text for host in ("127.0.0.1", "localhost", "::1"))


def needed_variables(classes: list[type[BaseSettings]]) -> set[str]:
    """Variables a container must set: required fields, and connection fields (where the
    broker, the database and the listening address are) whose defaults only work on a host."""
    needed: set[str] = set()
    for cls in classes:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        for name, field in cls.model_fields.items():
            connection = name.startswith(("kafka_", "broker_", "mongo_")) or name == "bind_host"
            if field.is_required() or connection or _default_is_loopback(field.default):
                needed.add(prefix + name.upper())
    return needed


def port_fields(cls: type[BaseSettings], service: str) -> dict[str, int]:
    """The port a service listens on: `port`, `http_port` or `<service>_port` (not smtp_port)."""
    names = {"port", "http_port", f"{service}_port"}
    return {
        name: int(field.default)
        for name, field in cls.model_fields.items()
        if name in names and isinstance(field.default, int)
    }


def container_ports(service: dict[str, Any], env: dict[str, str]) -> list[int]:
    ports: list[int] = []
    for entry in service.get("ports", []):
        spec = interpolate(str(entry), env).split("/")[0]
        ports.append(int(spec.rsplit(":", 1)[-1]))
    ports.extend(int(str(entry).split("/")[0]) for entry in service.get("expose", []))
    return ports


def published_ports(service: dict[str, Any], env: dict[str, str]) -> list[tuple[str, int, int]]:
    """(host ip, published port, container port) of each ports entry."""
    found = []
    for entry in service.get("ports", []):
        parts = interpolate(str(entry), env).split("/")[0].split(":")
        assert len(parts) == 3, f"{entry}: give host ip, published and container port"
        found.append((parts[0], int(parts[1]), int(parts[2])))
    return found


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    joined: list[str] = []
    buffer = ""
    for raw in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        joined.append(buffer + line)
        buffer = ""
    result = []
    for line in joined:
        instruction, _, arguments = line.partition(" ")
        result.append((instruction.upper(), arguments.strip()))
    return result


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.lstrip("!").rstrip("/")
        if fnmatch(path, bare) or fnmatch(path, bare.removeprefix("**/")):
            result = not negate
    return result


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """An operator's environment: every ${VAR:?} the file demands, set to a strong value."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    return {name: secrets.token_urlsafe(32) for name in required_variables(text)}


@pytest.fixture(scope="module")
def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Services built from the project's Dockerfile, keyed by the service they serve."""
    built = {name: svc for name, svc in services.items() if "build" in svc}
    assert set(built) == set(DESIGN_PORTS), "appeals, metrics, routing and notify are built"
    return built


def environment_of(service: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def served_port(name: str, environment: dict[str, str]) -> int:
    """The port `appeals serve <name>` listens on: its settings' port field (as compose sets it,
    else its default), or DESIGN.md's port while the service declares none."""
    ports: set[int] = set()
    for cls in service_settings_classes(name):
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        for field, default in port_fields(cls, name).items():
            ports.add(int(environment.get(prefix + field.upper(), default)))
    assert len(ports) <= 1, f"services/{name}/config.py declares several ports {sorted(ports)}"
    return ports.pop() if ports else DESIGN_PORTS[name]


# ---------------------------------------------------------------------------- services


def test_only_known_compose_keys(compose: dict[str, Any]) -> None:
    top = {key for key in compose if not key.startswith("x-")}
    assert top <= TOP_LEVEL_KEYS, sorted(top - TOP_LEVEL_KEYS)
    for name, svc in compose["services"].items():
        assert set(svc) <= SERVICE_KEYS, f"{name}: unknown keys {sorted(set(svc) - SERVICE_KEYS)}"
        extra = set(svc.get("healthcheck", {})) - HEALTHCHECK_KEYS
        assert not extra, f"{name}: unknown healthcheck keys {sorted(extra)}"


def test_every_service_is_pulled_or_built_health_checked_and_restarted(
    services: dict[str, dict[str, Any]],
) -> None:
    one_shots = {
        target
        for svc in services.values()
        for target, dep in (svc.get("depends_on") or {}).items()
        if isinstance(dep, dict) and dep.get("condition") == "service_completed_successfully"
    }
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, f"{name}: neither image nor build"
        assert "restart" in svc, f"{name}: no restart policy"
        if name in one_shots:
            # A one-shot job runs to completion once; a restart would hide its failure.
            assert svc["restart"] == "no", f"{name}: a one-shot service must not restart"
            continue
        assert str(svc["restart"]).split(":")[0] in LONG_RUNNING_RESTART, name
        assert svc.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        assert not svc["healthcheck"].get("disable"), f"{name}: healthcheck disabled"


def test_depends_on_names_existing_services_with_a_condition(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on as a list waits for nothing"
        for target, dep in deps.items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = dep.get("condition")
            assert condition in {"service_healthy", "service_completed_successfully"}, (
                f"{name} -> {target}: condition {condition!r}"
            )
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{target} has no healthcheck"
    for name in DESIGN_PORTS:
        deps = services[name]["depends_on"]
        assert deps["kafka"]["condition"] == "service_healthy", name
        assert deps["mongo"]["condition"] == "service_healthy", name
        assert deps["topic-init"]["condition"] == "service_completed_successfully", name


def test_app_services_run_their_command_on_its_port(
    app_services: dict[str, dict[str, Any]], env: dict[str, str]
) -> None:
    for name, svc in app_services.items():
        command = svc["command"]
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        assert argv == ["serve", name], f"{name}: command {argv}"
        assert (ROOT / "services" / name).is_dir(), f"no services/{name} package"
        port = served_port(name, environment_of(svc, env))
        assert container_ports(svc, env) == [port], f"{name}: ports {svc.get('ports')}"
        for _host, published, target in published_ports(svc, env):
            assert published == target, f"{name}: publish {target} as itself"
        probe = healthcheck_command(svc)
        assert f"http://127.0.0.1:{port}/healthz" in probe, f"{name}: healthcheck {probe}"
        assert probe.startswith("CMD python -c import urllib.request"), (
            f"{name}: the slim image has no curl; probe with Python"
        )


def test_published_ports_bind_to_loopback_by_default(
    services: dict[str, dict[str, Any]], env: dict[str, str]
) -> None:
    published = 0
    for name, svc in services.items():
        for host, _published, _target in published_ports(svc, env):
            assert ipaddress.ip_address(host).is_loopback, f"{name}: published on {host}"
            published += 1
    assert published >= 4


def test_app_services_set_every_variable_they_need(
    app_services: dict[str, dict[str, Any]], env: dict[str, str]
) -> None:
    for name, svc in app_services.items():
        classes = settings_classes(name)
        environment = environment_of(svc, env)
        missing = needed_variables(classes) - set(environment)
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_app_services_set_no_variable_unknown_to_their_settings(
    app_services: dict[str, dict[str, Any]], env: dict[str, str]
) -> None:
    for name, svc in app_services.items():
        known: set[str] = set()
        for cls in settings_classes(name):
            known |= settings_env_names(cls)
        unknown = {key for key in environment_of(svc, env) if key.upper() not in known}
        assert not unknown, (
            f"{name} sets {sorted(unknown)}, which no settings class of services/{name}/config.py "
            "or shared/settings.py reads"
        )


def test_app_settings_accept_the_compose_environment(
    app_services: dict[str, dict[str, Any]],
    services: dict[str, dict[str, Any]],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, svc in app_services.items():
        with monkeypatch.context() as patch:
            for key in [k for k in os.environ if k.upper().startswith("APPEALS_")]:
                patch.delenv(key)
            for key, value in environment_of(svc, env).items():
                patch.setenv(key, value)
            for cls in settings_classes(name):
                settings = cls()
                assert isinstance(settings, CommonSettings)
                assert settings.broker_profile == "kafka", f"{name}: embedded broker quirks on"
                assert settings.bind_host == "0.0.0.0", f"{name}: unreachable from other services"
                for address in settings.kafka_bootstrap.split(","):
                    host, _, port = address.partition(":")
                    assert host in services and int(port) in container_ports(services[host], env)
                mongo = urlsplit(settings.mongo_url)
                assert mongo.hostname in services, f"{name}: mongo host {mongo.hostname}"
                assert (mongo.port or 27017) in container_ports(services[mongo.hostname], env)


def test_secrets_come_from_the_environment_without_defaults(
    services: dict[str, dict[str, Any]],
) -> None:
    seen = 0
    for name, svc in services.items():
        raw = svc.get("environment", {})
        for key, value in raw.items():
            if not SECRET_NAME.search(key):
                continue
            seen += 1
            text = str(value).strip()
            assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}", text), (
                f"{name}: {key} must be ${{VAR:?...}} without a default, not {text!r}"
            )
    assert seen >= 2, "Open311 keys and Grafana admin password"
    assert "APPEALS_OPEN311_API_KEYS" in services["appeals"]["environment"]


def test_missing_secret_stops_compose(env: dict[str, str]) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert {"APPEALS_OPEN311_API_KEYS", "GRAFANA_ADMIN_PASSWORD"} <= set(env)
    assert interpolate(text, env)
    partial = {k: v for k, v in env.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    with pytest.raises(KeyError, match="GRAFANA_ADMIN_PASSWORD"):
        interpolate(text, partial)


# ---------------------------------------------------------------------------- infrastructure


def test_kafka_is_a_single_kraft_node_the_services_can_reach(
    services: dict[str, dict[str, Any]], env: dict[str, str]
) -> None:
    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:3.9.0"
    conf = environment_of(kafka, env)
    assert set(conf["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert conf["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{conf['KAFKA_NODE_ID']}@kafka:")
    assert "PLAINTEXT://kafka:9092" in conf["KAFKA_ADVERTISED_LISTENERS"].split(",")
    probe = healthcheck_command(kafka)
    assert "kafka-broker-api-versions.sh" in probe or "kafka-topics.sh" in probe
    log_dir = conf["KAFKA_LOG_DIRS"]
    assert any(v.endswith(":" + log_dir) for v in kafka["volumes"]), "broker data not on a volume"


def test_topic_init_creates_the_topics_of_shared_topics(
    services: dict[str, dict[str, Any]],
) -> None:
    job = services["topic-init"]
    script = " ".join(str(part) for part in job["command"])
    created = {
        topic: int(partitions)
        for topic, partitions in re.findall(r"--topic\s+(\S+)\s+--partitions\s+(\d+)", script)
    }
    assert created == ALL_TOPICS
    assert script.count("--if-not-exists") == len(ALL_TOPICS), "re-running must be harmless"
    assert script.count("--bootstrap-server kafka:9092") >= len(ALL_TOPICS)


def test_mongo_is_a_one_node_replica_set_named_in_the_services_url(
    services: dict[str, dict[str, Any]], env: dict[str, str]
) -> None:
    mongo = services["mongo"]
    assert str(mongo["image"]).startswith("mongo:7")
    command = list(mongo["command"])
    replica_set = command[command.index("--replSet") + 1]
    probe = healthcheck_command(mongo)
    assert "mongosh" in probe and "ping" in probe
    assert f"rs.initiate({{_id: '{replica_set}'" in probe
    for name in DESIGN_PORTS:
        url = environment_of(services[name], env)["APPEALS_MONGO_URL"]
        assert f"replicaSet={replica_set}" in urlsplit(url).query, name
    assert any(str(v).endswith(":/data/db") for v in mongo["volumes"])


def test_volumes_are_declared_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used: set[str] = set()
    missing_files: list[str] = []
    for name, svc in compose["services"].items():
        for entry in svc.get("volumes", []):
            source = str(entry).split(":")[0]
            if source.startswith((".", "/")):
                if not (ROOT / source).exists():
                    missing_files.append(f"{name}: {source}")
            else:
                used.add(source)
    assert used == declared, f"used {sorted(used)} vs declared {sorted(declared)}"
    assert {"kafka-data", "mongo-data", "prometheus-data", "grafana-data"} <= declared
    assert not missing_files, f"bind-mounted paths missing from the repository: {missing_files}"


def _mounts(service: dict[str, Any]) -> dict[PurePosixPath, Path]:
    """Container path -> host path of a service's bind mounts."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target = str(entry).split(":")[:2]
        if source.startswith("."):
            mounts[PurePosixPath(target)] = ROOT / source
    return mounts


def _host_path(service: dict[str, Any], container_path: PurePosixPath) -> Path | None:
    for target, source in _mounts(service).items():
        if container_path == target or target in container_path.parents:
            return source / container_path.relative_to(target)
    return None


def _prometheus_config() -> dict[str, Any]:
    assert PROMETHEUS_FILE.is_file(), (
        f"{PROMETHEUS_FILE.relative_to(ROOT)} is missing: docker-compose.yml mounts it into "
        "Prometheus (another engineer writes it; the scrape targets are checked here)"
    )
    config = yaml.safe_load(PROMETHEUS_FILE.read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


def _scrape_targets(config: dict[str, Any]) -> Iterator[tuple[str, str, int]]:
    """(job, host, port) of every static or DNS target."""
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = str(target).rpartition(":")
                yield job["job_name"], host, int(port)
        for dns in job.get("dns_sd_configs") or []:
            for host in dns.get("names") or []:
                yield job["job_name"], host.removeprefix("tasks."), int(dns["port"])


def test_prometheus_scrapes_compose_services_on_their_ports(
    services: dict[str, dict[str, Any]], env: dict[str, str]
) -> None:
    config = _prometheus_config()
    targets = list(_scrape_targets(config))
    assert targets, "prometheus.yml scrapes nothing"
    for job, host, port in targets:
        service = "prometheus" if host in {"localhost", "127.0.0.1"} else host
        assert service in services, f"job {job}: {host} is no compose service"
        assert port in container_ports(services[service], env), f"job {job}: {host}:{port}"
    scraped = {host for _, host, _ in targets}
    assert set(DESIGN_PORTS) <= scraped, f"not scraped: {sorted(set(DESIGN_PORTS) - scraped)}"


def test_prometheus_rule_files_are_mounted(services: dict[str, dict[str, Any]]) -> None:
    config = _prometheus_config()
    prometheus = services["prometheus"]
    command = " ".join(prometheus.get("command", []))
    config_in_container = PurePosixPath(
        re.search(r"--config\.file=(\S+)", command).group(1)  # type: ignore[union-attr]
    )
    assert _host_path(prometheus, config_in_container) == PROMETHEUS_FILE
    rule_files = config.get("rule_files") or []
    assert rule_files, "prometheus.yml loads no alert rules"
    for pattern in rule_files:
        in_container = config_in_container.parent / pattern
        host = _host_path(prometheus, in_container)
        assert host is not None, f"rule file {pattern} is not under a mounted directory"
        assert list(host.parent.glob(host.name)), f"rule file {pattern} matches no file"


def test_grafana_is_provisioned_from_the_mounted_files(
    services: dict[str, dict[str, Any]], env: dict[str, str]
) -> None:
    grafana = services["grafana"]
    provisioning = _host_path(grafana, PurePosixPath("/etc/grafana/provisioning"))
    assert provisioning is not None and provisioning.is_dir(), "provisioning not mounted"
    datasources = [
        source
        for path in sorted((provisioning / "datasources").glob("*.y*ml"))
        for source in yaml.safe_load(path.read_text(encoding="utf-8")).get("datasources", [])
    ]
    prometheus_urls = [d["url"] for d in datasources if d.get("type") == "prometheus"]
    assert prometheus_urls, "no Prometheus datasource provisioned"
    for url in prometheus_urls:
        parts = urlsplit(url)
        assert parts.hostname in services and parts.port in container_ports(
            services[parts.hostname], env
        ), url
    dashboards: list[Path] = []
    for path in sorted((provisioning / "dashboards").glob("*.y*ml")):
        for provider in yaml.safe_load(path.read_text(encoding="utf-8")).get("providers", []):
            host = _host_path(grafana, PurePosixPath(provider["options"]["path"]))
            assert host is not None, f"dashboard path {provider['options']['path']} not mounted"
            dashboards.extend(host.glob("**/*.json"))
    assert dashboards, "no dashboard JSON reaches Grafana"
    for dashboard in dashboards:
        json.loads(dashboard.read_text(encoding="utf-8"))
    password = environment_of(grafana, env)["GF_SECURITY_ADMIN_PASSWORD"]
    assert password == env["GRAFANA_ADMIN_PASSWORD"]


# ---------------------------------------------------------------------------- image


def test_image_runs_the_console_script_as_an_unprivileged_user() -> None:
    instructions = dockerfile_instructions()
    stages = [args for instr, args in instructions if instr == "FROM"]
    assert stages and all(s.split()[0] == "python:3.11-slim" for s in stages), stages
    final = instructions[max(i for i, (instr, _) in enumerate(instructions) if instr == "FROM") :]
    users = [args for instr, args in final if instr == "USER"]
    assert users and users[-1] not in {"root", "0"}, "the final stage must drop root"
    entrypoint = json.loads(next(args for instr, args in final if instr == "ENTRYPOINT"))
    cmd = json.loads(next(args for instr, args in final if instr == "CMD"))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert entrypoint == ["appeals"] and entrypoint[0] in scripts
    assert cmd == ["--help"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    installs = " ".join(args for instr, args in final if instr == "RUN")
    assert project["name"] in installs and "[embedded]" not in installs, installs


def _console_script() -> Any:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    module_name, _, function = scripts["appeals"].partition(":")
    return importlib.import_module(module_name), function


def test_the_default_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    module, function = _console_script()
    with pytest.raises(SystemExit) as exit_info:
        getattr(module, function)(["--help"])
    assert exit_info.value.code == 0
    assert "serve" in capsys.readouterr().out


def test_the_cli_accepts_each_compose_command(app_services: dict[str, dict[str, Any]]) -> None:
    module, _ = _console_script()
    parser = module.build_parser()
    for name, svc in app_services.items():
        args = parser.parse_args(list(svc["command"]))
        assert (args.command, args.service) == ("serve", name)


def test_dockerignore_keeps_the_context_small_but_lets_the_sources_in() -> None:
    patterns = dockerignore_patterns()
    for path in [".git", ".venv", ".env", "shared/__pycache__", ".venv-secantus"]:
        assert ignored(path, patterns), f"{path} would be sent to the build"
    copied = []
    for instr, args in dockerfile_instructions():
        if instr == "COPY" and not args.startswith("--from"):
            copied.extend(args.split()[:-1])
    assert set(copied) >= {"pyproject.toml", "shared", "services"}
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such path"
        assert not ignored(source, patterns), f"COPY {source} is excluded by .dockerignore"
