"""Static checks of docker-compose.yaml: every referenced service, volume and variable exists.

Docker is not available here, so the file is validated with PyYAML (which resolves the `<<` merge
keys the file uses) against the rules `docker compose config` would enforce, plus the project's own:
Airflow 3 settings present, secrets only from .env, databases with healthchecks.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
import yaml
from tierflow.paths import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; `$$` is a literal dollar.
VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
BARE_VAR = re.compile(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)")
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
DB_SERVICES = {"postgres", "mysql", "redis", "minio"}
SECRET_WORDS = ("PASSWORD", "SECRET", "FERNET", "SALT")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def documented_vars() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^\s*#?\s*([A-Z_][A-Z0-9_]*)=", line)
        if m:
            names.add(m.group(1))
    return names


def variable_uses(text: str) -> list[tuple[str, str | None]]:
    """(name, operator) for each ${...} substitution; operator is ':-', '-', ':?', '?' or None."""
    return [(m.group(1), m.group(2)) for m in VAR.finditer(text)]


def depends_on(service: dict) -> list[str]:
    deps = service.get("depends_on") or []
    return list(deps) if isinstance(deps, dict) else list(deps)


def test_expected_services_exist(services: dict) -> None:
    expected = AIRFLOW_SERVICES | DB_SERVICES | {"airflow-init", "createbuckets", "flower"}
    assert expected <= set(services)


def test_every_depends_on_names_an_existing_service(services: dict) -> None:
    missing = {
        (name, dep) for name, svc in services.items() for dep in depends_on(svc) if dep not in services
    }
    assert missing == set()


def test_depends_on_conditions_are_valid(services: dict) -> None:
    valid = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, dict):
            for dep, spec in deps.items():
                assert spec["condition"] in valid, (name, dep)
                if spec["condition"] == "service_healthy":
                    assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy"


def test_depends_on_has_no_cycles(services: dict) -> None:
    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        for dep in depends_on(services[name]):
            visit(dep, (*path, name))

    for name in services:
        visit(name, ())


def test_every_named_volume_is_declared(compose: dict, services: dict) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for svc in services.values():
        for volume in svc.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "$", "~")):
                used.add(source)
    assert used - declared == set(), "named volumes used but not declared"
    assert declared - used == set(), "declared volumes nobody uses"


def test_bind_mounts_exist_in_the_project(services: dict) -> None:
    for svc in services.values():
        for volume in svc.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), f"bind mount source {source} is missing"


def test_project_folders_are_mounted(compose: dict) -> None:
    mounts = {v.split(":")[1] for v in compose["x-airflow-common"]["volumes"]}
    for folder in ("dags", "plugins", "include", "dbt", "expectations", "sql"):
        assert f"/opt/airflow/{folder}" in mounts


def test_every_variable_is_documented_or_defaulted() -> None:
    documented = documented_vars()
    text = COMPOSE.read_text()
    undocumented = {
        name for name, op in variable_uses(text) if op not in (":-", "-") and name not in documented
    }
    assert undocumented == set(), "document these in .env.example or give them a ${VAR:-default}"
    bare = set(BARE_VAR.findall(text))
    assert bare == set(), "use ${VAR} (or $$VAR for a container-side variable)"


def test_secrets_come_from_env_without_defaults() -> None:
    """A secret with a default would silently run with a known password."""
    for name, op in variable_uses(COMPOSE.read_text()):
        if any(word in name for word in SECRET_WORDS):
            assert op not in (":-", "-"), f"{name} must not have a default"


def test_no_literal_credentials_in_compose(compose: dict, services: dict) -> None:
    envs = [compose["x-airflow-common"]["environment"]] + [
        s.get("environment") or {} for s in services.values()
    ]
    for env in envs:
        for key, value in env.items():
            if any(word in key for word in SECRET_WORDS) and isinstance(value, str):
                assert value.startswith("${"), f"{key} is a literal; take it from .env"


def test_env_example_holds_no_real_credential() -> None:
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if m and any(word in m.group(1) for word in SECRET_WORDS + ("ACCESS_KEY",)):
            value = m.group(2)
            assert value == "" or "change-me" in value, f"{m.group(1)} looks like a real value"


def test_env_example_documents_the_tierflow_settings() -> None:
    documented = documented_vars()
    required = {
        "TIERFLOW_MYSQL_URL",
        "TIERFLOW_WAREHOUSE_URL",
        "TIERFLOW_REDIS_URL",
        "TIERFLOW_ARCHIVE_URI",
        "TIERFLOW_POLICY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
    }
    assert required <= documented
    dbt_vars = set(re.findall(r"env_var\('([A-Z_]+)'", (PROJECT_ROOT / "dbt/profiles.yml").read_text()))
    assert dbt_vars <= documented, dbt_vars - documented


def test_env_file_is_not_committed() -> None:
    ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored


def test_profiles_are_valid(services: dict) -> None:
    for name, svc in services.items():
        profiles = svc.get("profiles", [])
        assert isinstance(profiles, list)
        for profile in profiles:
            assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", profile), (name, profile)
    assert services["flower"]["profiles"] == ["flower"]
    # Always-on services never depend on a profile-only one (compose would refuse to start).
    for name, svc in services.items():
        if not svc.get("profiles"):
            for dep in depends_on(svc):
                assert not services[dep].get("profiles"), f"{name} depends on profiled {dep}"


def test_databases_have_healthchecks(services: dict) -> None:
    for name in DB_SERVICES:
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}


def test_airflow_is_configured_for_airflow_3_with_celery(compose: dict, services: dict) -> None:
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("AuthManager")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert "AIRFLOW__API_AUTH__JWT_SECRET" in env
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES | {"flower"}}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
        "flower": "celery flower",
    }
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully"


def test_image_extends_airflow_3_3_2_with_the_requirements(compose: dict) -> None:
    build = compose["x-airflow-common"]["build"]["dockerfile_inline"]
    assert "FROM apache/airflow:3.3.2-python3.11" in build
    assert "requirements.txt" in build and "constraints.txt" in build
    pinned = (PROJECT_ROOT / "requirements.txt").read_text()
    assert "apache-airflow==3.3.2" in pinned


def test_tierflow_settings_point_at_compose_services(compose: dict, services: dict) -> None:
    env = compose["x-airflow-common"]["environment"]
    hosts = {
        "TIERFLOW_MYSQL_URL": "mysql",
        "TIERFLOW_WAREHOUSE_URL": "postgres",
        "TIERFLOW_REDIS_URL": "redis",
        "AWS_ENDPOINT_URL": "minio",
    }
    for key, host in hosts.items():
        assert f"{host}:" in env[key] and host in services
    assert env["TIERFLOW_ARCHIVE_URI"].startswith("s3://")
    # The Connection ids the hook reads are all provided.
    ids = runpy.run_path(str(PROJECT_ROOT / "plugins/tierflow_airflow/connections.py"))
    for conn_id in (ids["MYSQL_CONN_ID"], ids["WAREHOUSE_CONN_ID"], ids["REDIS_CONN_ID"]):
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in env
    for var in (ids["ARCHIVE_URI_VARIABLE"], ids["POLICY_VARIABLE"]):
        assert f"AIRFLOW_VAR_{var.upper()}" in env


def test_variable_checker_catches_problems(tmp_path: Path) -> None:
    """The regexes used above find what they must (so the checks can fail)."""
    uses = variable_uses("a: ${ONE} b: ${TWO:-x} c: ${THREE:?set it} d: $${LITERAL} e: ${FOUR-y}")
    assert uses == [("ONE", None), ("TWO", ":-"), ("THREE", ":?"), ("FOUR", "-")]
    assert BARE_VAR.findall("x: $BARE y: $$NOT") == ["BARE"]
