"""Gitea for real: compose/gitea deployed by `inv deploy` with the Gitea test image (built here from the Go module
proxy, tests/harness/images.py) and PostgreSQL, its secrets from the Infisical stand-in; a repository pushed and
cloned over git HTTP; images pushed and pulled through its registry by `inv registry.push|pull`.

The compose file deployed is compose/gitea/compose.yaml with exactly these lines changed (`test_compose_file`
asserts no other): the three images (no registry can be reached here: Gitea → colab-test/gitea, PostgreSQL →
colab-test/postgres, the one-shot `prepare` → colab-test/busybox), the SSH port published on a random loopback
port instead of 2222 on every address, and ROOT_URL `http://127.0.0.1:<port>/` instead of `https://<domain>/`
(the registry sends Docker to ROOT_URL/v2/token for a token: with the real domain the engine would go there).

One Gitea serves the whole module (it takes about a minute to start on 2 cores); tests run in file order.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit

from tests.conftest import CANARY, DEFAULT_INVENTORY, FakeInfisical, require_tool
from tests.harness import images
from tests.integration.conftest import _build
from tests.integration.deploy_support import (
    ArgvWatch,
    TestCluster,
    files_containing,
    project_containers,
    remove_project,
    web_compose,
    write_cluster,
)
from tests.integration.test_backup_postgres import build_postgres_image

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "compose" / "gitea" / "compose.yaml"
PRODUCTION_IMAGES = {
    "prepare": "postgres:16.4-alpine",
    "db": "postgres:16.4-alpine",
    "gitea": "gitea/gitea:1.26.0-rootless",
}
ADMIN = "colab-admin"
GITEA_SECRETS = ("GITEA_DB_PASSWORD", "GITEA_SECRET_KEY", "GITEA_INTERNAL_TOKEN", "GITEA_JWT_SECRET")


def test_compose_pins_the_version_the_test_image_builds() -> None:
    assert f"image: gitea/gitea:{images.GITEA_VERSION}-rootless" in PRODUCTION.read_text()


def test_compose_file_for_tests() -> None:
    """The deployed file differs from compose/gitea/compose.yaml in the documented lines only."""
    ours = compose_for_tests({"prepare": "B", "db": "P", "gitea": "G"}, 4321)
    old, new = PRODUCTION.read_text().splitlines(), ours.splitlines()
    assert len(old) == len(new)
    changed = [(a.strip(), b.strip()) for a, b in zip(old, new, strict=True) if a != b]
    assert changed == [
        ("image: postgres:16.4-alpine", "image: B"),
        ("image: postgres:16.4-alpine", "image: P"),
        ("image: gitea/gitea:1.26.0-rootless", "image: G"),
        (
            "GITEA__server__ROOT_URL: https://${COLAB_PUBLIC_HOST:?set by inv deploy from services.gitea.domains}/",
            "GITEA__server__ROOT_URL: http://127.0.0.1:${COLAB_PORT:?set by inv deploy}/",
        ),
        ('- "2222:2222"', '- "127.0.0.1::2222"'),
    ]


def compose_for_tests(images_by_service: dict[str, str], port: int) -> str:
    out, service = [], ""
    for line in PRODUCTION.read_text().splitlines():
        m = re.match(r"^  ([a-z]+):$", line)
        if m:
            service = m[1]
        if line.strip().startswith("image: ") and service in images_by_service:
            assert line.strip() == f"image: {PRODUCTION_IMAGES[service]}", line
            line = line.replace(PRODUCTION_IMAGES[service], images_by_service[service])
        elif "GITEA__server__ROOT_URL:" in line:
            line = line.split(":", 1)[0] + ": http://127.0.0.1:${COLAB_PORT:?set by inv deploy}/"
        elif line.strip() == '- "2222:2222"':
            line = line.replace('"2222:2222"', '"127.0.0.1::2222"')
        out.append(line)
    return "\n".join(out) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Forge:
    cluster: TestCluster
    name: str
    port: int
    values: dict[str, str]  # the secrets the stand-in injects (GITEA_DB_PASSWORD is the CANARY)
    deploy: subprocess.CompletedProcess[str]
    started: float
    argv_hits: list[str]
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.cluster.server_fortress / "data" / self.name

    def container(self, service: str) -> str:
        return next(c[0] for n, c in project_containers(self.name).items() if n.startswith(f"{self.name}-{service}-"))

    def api(self, method: str, path: str, body: object | None = None, *, token: str = "") -> object:
        req = urllib.request.Request(f"{self.url}/api/v1{path}", method=method)
        req.add_header("Authorization", f"token {token or self.token}")
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, data, timeout=30) as res:
            text = res.read()
        return json.loads(text) if text else None


@pytest.fixture(scope="module")
def forge(
    docker_engine: str, busybox_image: str, pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Forge]:
    require_tool("docker", "git")
    gitea_image = _build(pytestconfig, images.build_gitea_image)
    try:
        pg_image = build_postgres_image(pytestconfig)
    except images.MissingToolError as e:
        require_tool(e.tool)
        raise
    root = tmp_path_factory.mktemp("gitea")
    tag = f"{os.getpid()}-{secrets.token_hex(2)}"
    name = f"gitea-{tag}"
    port = free_port()
    service = {
        "node": "cooperator",
        "secrets_path": "/gitea",
        "secrets": list(GITEA_SECRETS),
        "domains": ["git.ism.la"],
        "port": port,
        "databases": [{"service": "db", "name": "gitea", "user": "gitea"}],
        "env": {"GITEA__actions__ENABLED": "true", "GITEA__packages__ENABLED": "true"},
    }
    cluster = write_cluster(root, tag, {name: service}, f"10.221.{os.getpid() % 250}.0/24")
    compose = compose_for_tests({"prepare": busybox_image, "db": pg_image, "gitea": gitea_image}, port)
    cluster.compose_dir(name).joinpath("compose.yaml").write_text(compose)
    values = {
        "GITEA_DB_PASSWORD": CANARY,
        "GITEA_SECRET_KEY": secrets.token_urlsafe(48),
        "GITEA_INTERNAL_TOKEN": secrets.token_urlsafe(48),
        "GITEA_JWT_SECRET": base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode(),
    }
    with pytest.MonkeyPatch.context() as mp:
        from colab import inventory

        fake = FakeInfisical(mp, inventory.load(DEFAULT_INVENTORY).infisical.project_id)
        fake.set("/gitea", **values)
        mp.setenv("COLAB_FAKE_INFISICAL_LOG", str(root / "infisical-calls.log"))
        started = time.time()
        try:
            with ArgvWatch(CANARY) as watch:
                res = cluster.inv("deploy", "--service", name, "--wait-timeout", "420", timeout=600)
            f = Forge(cluster, name, port, values, res, started, watch.hits)
            yield f
        finally:
            remove_project(name, cluster.network)


@pytest.fixture(scope="module")
def admin(forge: Forge) -> Forge:
    """An admin user (made with `gitea admin user create` in the container) and an access token for it."""
    assert forge.deploy.returncode == 0, forge.deploy.stdout + forge.deploy.stderr
    password = secrets.token_urlsafe(18)
    cid = forge.container("gitea")
    made = subprocess.run(
        ["docker", "exec", "-i", cid, "sh", "-c",
         'read -r p; exec gitea admin user create --admin --username "$1" --email "$1@example.invalid" '
         '--password "$p" --must-change-password=false', "sh", ADMIN],
        input=password + "\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    basic = base64.b64encode(f"{ADMIN}:{password}".encode()).decode()
    req = urllib.request.Request(f"{forge.url}/api/v1/users/{ADMIN}/tokens", method="POST")
    req.add_header("Authorization", f"Basic {basic}")
    req.add_header("Content-Type", "application/json")
    body = {"name": "colab-tests", "scopes": ["write:repository", "write:package", "write:user"]}
    with urllib.request.urlopen(req, json.dumps(body).encode(), timeout=30) as res:
        forge.token = json.loads(res.read())["sha1"]
    return forge


# ---------------------------------------------------------------------------------------------- deploy


def test_deploy_runs_gitea_and_postgres_healthy_rootless_with_data_on_fortress(forge: Forge) -> None:
    res = forge.deploy
    assert res.returncode == 0, res.stdout + res.stderr
    containers = project_containers(forge.name)
    states = {n.removeprefix(f"{forge.name}-").rsplit("-", 1)[0]: c[2] for n, c in containers.items()}
    assert states == {"prepare": "exited", "db": "running", "gitea": "running"}
    gitea = forge.container("gitea")
    inspect = json.loads(
        subprocess.run(["docker", "inspect", gitea], capture_output=True, text=True, check=True).stdout
    )[0]
    assert inspect["State"]["Health"]["Status"] == "healthy"
    assert inspect["Config"]["User"] == "1000:1000"
    top = subprocess.run(["docker", "top", gitea, "-o", "pid,uid,comm"], capture_output=True, text=True, check=True)
    uids = {line.split()[1] for line in top.stdout.splitlines()[1:]}
    assert uids == {"1000"}, top.stdout  # rootless: no process of the container runs as root
    with urllib.request.urlopen(f"{forge.url}/api/healthz", timeout=10) as health:
        assert json.loads(health.read())["status"] == "pass"
    with urllib.request.urlopen(f"{forge.url}/api/v1/version", timeout=10) as version:
        assert json.loads(version.read())["version"] == images.GITEA_VERSION
    # data on fortress: Gitea's work dir and PostgreSQL's cluster, nothing else
    assert sorted(p.name for p in forge.data.iterdir()) == ["gitea", "postgres"]
    assert (forge.data / "gitea").stat().st_uid == 1000
    assert (forge.data / "postgres" / "PG_VERSION").is_file()
    # app.ini is in memory and says what the inventory says (Actions, packages) and that the database is postgres
    ini = subprocess.run(["docker", "exec", gitea, "cat", "/etc/gitea/app.ini"], capture_output=True, text=True).stdout
    assert re.search(r"^\[actions\]\nENABLED\s*=\s*true$", ini, re.M), ini
    assert re.search(r"^DB_TYPE\s*=\s*postgres$", ini, re.M)
    mounts = {m["Destination"]: m["Type"] for m in inspect["Mounts"]}
    assert mounts == {"/var/lib/gitea": "bind"} and "/etc/gitea" in inspect["HostConfig"]["Tmpfs"]


def test_the_database_password_and_gitea_secrets_are_in_no_file_argv_or_output(forge: Forge) -> None:
    res = forge.deploy
    assert res.returncode == 0, res.stdout + res.stderr
    assert forge.argv_hits == []  # no process's argv held the DB password while deploying
    gitea = forge.container("gitea")
    log_path = subprocess.run(["docker", "inspect", "--format", "{{.LogPath}}", gitea], capture_output=True,
                              text=True).stdout.strip()  # fmt: skip
    roots = [ROOT, forge.cluster.root, Path(log_path)]
    for name, value in forge.values.items():
        assert list(files_containing(value, roots, since=forge.started - 1)) == [], name  # fortress data included
        assert value not in res.stdout + res.stderr, name
    calls = (forge.cluster.root / "infisical-calls.log").read_text()
    assert '"--path", "/gitea"' in calls and CANARY not in calls


def test_a_second_deploy_changes_nothing(forge: Forge) -> None:
    before = project_containers(forge.name)
    again = forge.cluster.inv("deploy", "--service", forge.name, "--json", timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {s["status"] for s in json.loads(again.stdout)["steps"]} == {"ok"}
    assert project_containers(forge.name) == before


# -------------------------------------------------------------------------------------------------- git


def git(*args: str, cwd: Path, token: str = "") -> subprocess.CompletedProcess[str]:
    """git with the token as an HTTP header from the environment (GIT_CONFIG_*), never in argv or a file."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1"}
    if token:
        basic = base64.b64encode(f"{ADMIN}:{token}".encode()).decode()
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                   GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}")  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_a_repository_pushed_over_http_clones_back_byte_identical(admin: Forge, tmp_path: Path) -> None:
    repo = "drill"
    made = admin.api("POST", "/user/repos", {"name": repo, "private": True})
    assert isinstance(made, dict) and made["full_name"] == f"{ADMIN}/{repo}"
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("# drill\n")
    (work / "data.bin").write_bytes(secrets.token_bytes(300_000))
    (work / "nested" / "deep").mkdir(parents=True)
    (work / "nested" / "deep" / "grüße ✓.txt").write_text("unicode name\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "first"]):  # fmt: skip
        assert git(*args, cwd=work).returncode == 0
    url = f"{admin.url}/{ADMIN}/{repo}.git"
    with ArgvWatch(admin.token) as watch:
        pushed = git("push", "-q", url, "main", cwd=work, token=admin.token)
    assert pushed.returncode == 0, pushed.stderr
    assert watch.hits == []
    anonymous = git("clone", "-q", url, str(tmp_path / "anon"), cwd=tmp_path)
    assert anonymous.returncode != 0  # private: the clone below works because of the token
    clone = git("clone", "-q", url, str(tmp_path / "clone"), cwd=tmp_path, token=admin.token)
    assert clone.returncode == 0, clone.stderr
    head = git("rev-parse", "HEAD", cwd=work).stdout
    assert git("rev-parse", "HEAD", cwd=tmp_path / "clone").stdout == head
    assert tree_digest(tmp_path / "clone") == tree_digest(work)
    bare = admin.data / "gitea" / "git" / "repositories" / ADMIN / f"{repo}.git"
    assert (bare / "HEAD").is_file()  # the repository lives on fortress
    assert git("--git-dir", str(bare), "rev-parse", "main", cwd=tmp_path).stdout == head


def checkout_step(workflow: Path) -> tuple[dict[str, str], list[str]]:
    """The `checkout` step of the Actions workflow: its env (values unquoted) and its shell lines."""
    text = workflow.read_text()
    step = text[text.index("- name: checkout") :]
    step = step[: step.index("- name:", 1)]
    env = {k: v.strip().strip('"') for k, v in re.findall(r"^ {10}([A-Z0-9_]+): (.+)$", step, re.M)}
    lines = [line.strip() for line in step[step.index("run: |") :].splitlines()[1:] if line.strip()]
    return env, lines


def test_the_workflow_checkout_step_fetches_the_pushed_commit(admin: Forge, tmp_path: Path) -> None:
    """The checkout lines of .gitea/workflows/ci.yaml, run as written against this Gitea (a personal access token
    stands in for the job's `gitea.token`): the commit arrives, and the token is in no argv and no file."""
    repo = "ci-probe"
    admin.api("POST", "/user/repos", {"name": repo, "private": True})
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("probe\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "probe"]):  # fmt: skip
        assert git(*args, cwd=work).returncode == 0
    assert git("push", "-q", f"{admin.url}/{ADMIN}/{repo}.git", "main", cwd=work, token=admin.token).returncode == 0
    sha = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    context = {"gitea.token": admin.token, "gitea.server_url": admin.url, "gitea.repository": f"{ADMIN}/{repo}",
               "gitea.sha": sha}  # fmt: skip
    env, lines = checkout_step(ROOT / ".gitea" / "workflows" / "ci.yaml")
    env = {k: re.sub(r"\$\{\{ ([a-z._]+) \}\}", lambda m: context[m[1]], v) for k, v in env.items()}
    job = tmp_path / "job"
    job.mkdir()
    started = time.time()
    with ArgvWatch(admin.token) as watch:
        res = subprocess.run(["bash", "-e", "-c", "\n".join(lines)], cwd=job, capture_output=True, text=True,
                             env={**os.environ, "HOME": str(tmp_path), **env}, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert watch.hits == []
    assert git("rev-parse", "HEAD", cwd=job).stdout.strip() == sha
    assert (job / "README.md").read_text() == "probe\n"
    assert list(files_containing(admin.token, [job, tmp_path], since=started - 1)) == []


# --------------------------------------------------------------------------------------------- registry


def registry_inventory(forge: Forge, path: Path) -> Path:
    doc = tomlkit.parse(forge.cluster.inventory.read_text())
    reg = tomlkit.table()
    reg.update({"service": forge.name, "user": ADMIN, "token": "REGISTRY_TOKEN", "host": f"127.0.0.1:{forge.port}"})
    doc["registry"] = reg
    path.write_text(tomlkit.dumps(doc))
    return path


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)


def test_images_go_through_the_registry_with_the_token_in_memory_only(
    admin: Forge, tmp_path: Path, busybox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = json.loads(os.environ["COLAB_FAKE_INFISICAL_VAULT"])
    vault["envs"]["prod"]["/registry"] = {"REGISTRY_TOKEN": admin.token}
    monkeypatch.setenv("COLAB_FAKE_INFISICAL_VAULT", json.dumps(vault))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # ~/.docker/config.json of this run: must stay absent
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    cluster = TestCluster(admin.cluster.root, registry_inventory(admin, tmp_path / "inventory.toml"),
                          admin.cluster.network, admin.cluster.subnet, admin.cluster.services)  # fmt: skip
    image = f"127.0.0.1:{admin.port}/{ADMIN}/probe-{os.getpid()}:1"
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN echo {secrets.token_hex(8)} > /probe\n")
    built = docker("build", "-q", "-t", image, str(context))
    assert built.returncode == 0, built.stderr
    original = docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    bare = tmp_path / "no-credentials"
    bare.mkdir()
    refused = subprocess.run(["docker", "--config", str(bare), "push", image], capture_output=True, text=True)
    assert refused.returncode != 0  # the registry wants credentials: what follows works because of the helper
    leftovers = set(Path(tempfile.gettempdir()).glob("colab-registry-*"))
    started = time.time()
    try:
        with ArgvWatch(admin.token) as watch:
            pushed = cluster.inv("registry.push", "--image", image, "--json", timeout=600)
            assert pushed.returncode == 0, pushed.stdout + pushed.stderr
            assert json.loads(pushed.stdout)["steps"][0]["status"] == "changed"
            again = cluster.inv("registry.push", "--image", image, "--json", timeout=600)
            assert again.returncode == 0 and json.loads(again.stdout)["steps"][0]["status"] == "ok", again.stdout
            assert docker("rmi", image).returncode == 0
            pulled = cluster.inv("registry.pull", "--image", image, "--json", timeout=600)
            assert pulled.returncode == 0, pulled.stdout + pulled.stderr
            assert json.loads(pulled.stdout)["steps"][0]["status"] == "changed"
            repeat = cluster.inv("registry.pull", "--image", image, "--json", timeout=600)
            assert json.loads(repeat.stdout)["steps"][0]["status"] == "ok", repeat.stdout
        assert docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip() == original
        assert watch.hits == []  # the token was in no process's argv
        for res in (pushed, again, pulled, repeat):
            assert admin.token not in res.stdout + res.stderr
        assert not (home / ".docker").exists()  # no login was stored
        assert set(Path(tempfile.gettempdir()).glob("colab-registry-*")) <= leftovers  # the helper folder is gone
        roots = [ROOT, admin.cluster.root, tmp_path]
        assert list(files_containing(admin.token, roots, since=started - 1)) == []
        # the registry really holds it: Gitea's package API lists the container image
        packages = admin.api("GET", f"/packages/{ADMIN}?type=container")
        assert isinstance(packages, list) and f"probe-{os.getpid()}" in {p["name"] for p in packages}
        # a compose file names the registry's image; once pulled onto the node, deploy runs it
        used_by = f"web-{os.getpid()}-{secrets.token_hex(2)}"
        web = write_cluster(tmp_path / "svc", used_by.removeprefix("web-"), {used_by: {"node": "cooperator",
                            "secrets": ["TEST_SECRET"]}}, f"10.222.{os.getpid() % 250}.0/24")  # fmt: skip
        web.compose_dir(used_by).joinpath("compose.yaml").write_text(web_compose(image))
        vault["envs"]["prod"]["/web"] = {"TEST_SECRET": "x" * 12}
        monkeypatch.setenv("COLAB_FAKE_INFISICAL_VAULT", json.dumps(vault))
        try:
            deployed = web.inv("deploy", "--service", used_by, "--wait-timeout", "60", timeout=600)
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
            ((cid, *_),) = project_containers(used_by).values()
            assert docker("inspect", "--format", "{{.Config.Image}}", cid).stdout.strip() == image
        finally:
            remove_project(used_by, web.network)
    finally:
        docker("rmi", image)


def test_registry_dry_run_contacts_nothing_and_masks_nothing_it_does_not_know(admin: Forge, tmp_path: Path) -> None:
    cluster = TestCluster(admin.cluster.root, registry_inventory(admin, tmp_path / "inventory.toml"),
                          admin.cluster.network, admin.cluster.subnet, admin.cluster.services)  # fmt: skip
    image = f"127.0.0.1:{admin.port}/{ADMIN}/never-pushed:1"
    res = cluster.inv("registry.push", "--image", image, "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"-- docker push {image}" in res.stdout
    assert "DOCKER_CONFIG='<temporary folder>'" in res.stdout
    assert docker("image", "inspect", image).returncode != 0
    wrong = cluster.inv("registry.push", "--image", "docker.io/library/busybox:1")
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: --image docker.io/library/busybox:1: its registry")
    assert len(wrong.stderr.splitlines()) == 1
