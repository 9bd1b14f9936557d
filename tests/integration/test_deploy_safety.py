"""Deploys under faults and concurrency, on the real engine with Compose v2 (busybox test services).

Runs are stopped at known points, never after a sleep: shims on PATH (`deploy_support.SHIMS`) write a marker
and SIGSTOP themselves just before tar unpacks (`sync`) or right after the live folder was renamed away
(`swap`); for `up`, a proxy in front of the engine (`EngineProxy`) holds every API request after Compose
renamed the old container during a recreate. The test polls for the marker, then kills or interrupts the
deploy's whole process group (or only its Python process), and checks what the next deploy makes of it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CANARY, FakeInfisical, require_root, require_tool
from tests.integration.deploy_support import (
    UNHEALTHY,
    EngineProxy,
    TestCluster,
    marker,
    project_containers,
    remove_project,
    wait_for,
    web_compose,
    write_cluster,
    write_shims,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]

RENAMED = re.compile(r"[0-9a-f]{12}_.+")
# Compose's recreate: create the new container as <old id>_<name>, stop the old, remove it, rename the new.
# Holding every request after the stop leaves what the issue saw: the old exited, the new created aside.
STOP_OLD = r"^POST /v[\d.]+/containers/[0-9a-f]+/stop"


def mid_recreate(name: str) -> bool:
    states = {n: s[2] for n, s in project_containers(name).items()}
    return any(RENAMED.fullmatch(n) for n in states) and "exited" in states.values()


def steps(stdout: str) -> dict[str, tuple[str, str]]:
    """`--json` report → step kind (`lock`, `files`, `compose up` …) → (status, detail)."""
    found = {}
    for s in json.loads(stdout)["steps"]:
        words = s["step"].split(" ")
        kind = " ".join(words[:2]) if words[0] == "compose" else words[0]
        found[kind] = (s["status"], s["detail"])
    return found


def ok(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def the_container(name: str) -> dict[str, object]:
    """The project's one container, inspected (fails when there is not exactly one)."""
    found = project_containers(name)
    assert len(found) == 1, found
    ((cid, *_),) = found.values()
    out = subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]  # type: ignore[no-any-return]


def healthy(name: str) -> bool:
    c = the_container(name)
    return c["State"]["Health"]["Status"] == "healthy"  # type: ignore[index]


def memory(name: str) -> int:
    return int(the_container(name)["HostConfig"]["Memory"])  # type: ignore[index]


def beside(cluster: TestCluster, name: str) -> list[str]:
    """The service's entries in fortress/docker/: its folder, its state folder, and what an interrupted run left."""
    return sorted(p.name for p in (cluster.server_fortress / "docker").iterdir() if name in p.name)


def deployed(cluster: TestCluster, name: str) -> dict[str, str]:
    folder = cluster.server_fortress / "docker" / name
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def source(cluster: TestCluster, name: str) -> dict[str, str]:
    folder = cluster.compose_dir(name)
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


V2_MEMORY = 96 * 1024 * 1024


def make_v2(cluster: TestCluster, name: str) -> None:
    compose = cluster.compose_dir(name) / "compose.yaml"
    compose.write_text(compose.read_text().replace("memory: 64M", "memory: 96M"))


@pytest.fixture
def cluster(
    tmp_path: Path, busybox_image: str, fake_infisical: FakeInfisical, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestCluster]:
    """Two test services `web-<tag>` and `api-<tag>` on cooperator (= this machine), each needing TEST_SECRET."""
    require_tool("docker", "flock")
    tag = f"{os.getpid()}-{time.monotonic_ns() % 100000}"
    names = [f"web-{tag}", f"api-{tag}"]
    subnet = f"10.221.{os.getpid() % 250}.0/24"
    c = write_cluster(tmp_path, tag, {n: {"node": "cooperator", "secrets": ["TEST_SECRET"]} for n in names}, subnet)
    for n in names:
        c.compose_dir(n).joinpath("compose.yaml").write_text(web_compose(busybox_image))
    fake_infisical.set("/web", TEST_SECRET=CANARY)
    yield c
    for n in names:
        remove_project(n)
    subprocess.run(["docker", "network", "rm", c.network], capture_output=True)


# ------------------------------------------------------------------------------------------- one at a time


def test_two_deploys_at_once_the_second_waits_and_both_end_healthy(cluster: TestCluster, tmp_path: Path) -> None:
    name = cluster.services[0]
    ok(cluster.inv("deploy", "--service", name))
    make_v2(cluster, name)
    marks = tmp_path / "marks"
    marks.mkdir()
    shims = write_shims(tmp_path / "shims")
    first = cluster.start(
        "deploy", "--service", name, "--wait", "--json",
        env={"PATH": f"{shims}:{os.environ['PATH']}", "COLAB_TEST_STOP": "sync", "COLAB_TEST_MARKS": str(marks)},
    )  # fmt: skip
    wait_for(lambda: marker(marks, "sync"), what="the first deploy to start unpacking")  # it holds the lock
    second = cluster.start("deploy", "--service", name, "--wait", "--json")
    wait_for(lambda: second.printed("waiting: "), what="the second deploy to wait")
    os.kill(marker(marks, "sync") or 0, signal.SIGCONT)
    rc1, out1, err1 = first.finish()
    rc2, out2, err2 = second.finish()
    assert (rc1, rc2) == (0, 0), out1 + err1 + out2 + err2
    assert f"waiting: {name} on cooperator is locked by deploy by " in err2
    assert steps(out1)["files"][0] == "changed" and steps(out2)["files"][0] == "ok"
    assert steps(out2)["lock"][1].startswith("waited for deploy by ")
    assert deployed(cluster, name) == source(cluster, name)  # the folder is complete
    assert beside(cluster, name) == sorted([name, f".{name}.colab"])
    assert healthy(name) and memory(name) == V2_MEMORY


def test_a_second_deploy_without_wait_stops_with_who_holds_the_lock(cluster: TestCluster, tmp_path: Path) -> None:
    name = cluster.services[0]
    marks = tmp_path / "marks"
    marks.mkdir()
    shims = write_shims(tmp_path / "shims")
    first = cluster.start(
        "deploy", "--service", name,
        env={"PATH": f"{shims}:{os.environ['PATH']}", "COLAB_TEST_STOP": "sync", "COLAB_TEST_MARKS": str(marks)},
    )  # fmt: skip
    wait_for(lambda: marker(marks, "sync"), what="the first deploy to start unpacking")
    for verb in ("deploy", "deploy.pull", "deploy.down", "deploy.rollback"):
        res = cluster.inv(verb, "--service", name)
        assert res.returncode == 1, (verb, res.stdout, res.stderr)
        line = res.stderr.strip()
        assert len(line.splitlines()) == 1 and "Traceback" not in line
        assert re.fullmatch(
            rf"error: {name} on cooperator is locked by deploy by \S+ on cooperator "
            rf"\(pid {first.proc.pid}, since \S+\); wait for it to finish, or pass --wait to queue",
            line,
        ), line
    os.kill(marker(marks, "sync") or 0, signal.SIGCONT)
    rc, out, err = first.finish()
    assert rc == 0, out + err
    assert healthy(name)


# ----------------------------------------------------------------------------------- interrupted deploys


def _interrupt(cluster: TestCluster, tmp_path: Path, name: str, stage: str, sig: int) -> tuple[int, str]:
    """Start a deploy of v2, stop it at `stage`, send `sig` to its whole process group; its exit code and output."""
    marks = tmp_path / "marks"
    marks.mkdir()
    extra = {"COLAB_TEST_MARKS": str(marks)}
    proxy = None
    if stage == "up":
        proxy = EngineProxy(tmp_path / "engine.sock", STOP_OLD)
        extra["DOCKER_HOST"] = proxy.docker_host
    else:
        extra.update(PATH=f"{write_shims(tmp_path / 'shims')}:{os.environ['PATH']}", COLAB_TEST_STOP=stage)
    run = cluster.start("deploy", "--service", name, env=extra)
    try:
        if proxy is not None:
            wait_for(lambda: proxy.held.is_set() and mid_recreate(name), what="compose to stop the old container")
        else:
            wait_for(lambda: marker(marks, stage), what=f"the deploy to reach {stage}")
        run.signal_group(sig)
        if sig != signal.SIGKILL:
            run.signal_group(signal.SIGCONT)  # a stopped shim takes the pending signal as it goes on
        rc, out, err = run.finish()
    finally:
        if proxy is not None:
            proxy.close()
    return rc, out + err


@pytest.mark.parametrize("stage", ["sync", "swap", "up"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "sigint"])
def test_a_deploy_interrupted_at_any_stage_is_recovered_by_the_next(
    cluster: TestCluster, tmp_path: Path, stage: str, sig: int
) -> None:
    name = cluster.services[0]
    ok(cluster.inv("deploy", "--service", name))
    v1 = deployed(cluster, name)
    make_v2(cluster, name)
    rc, output = _interrupt(cluster, tmp_path, name, stage, sig)
    assert rc == (-signal.SIGKILL if sig == signal.SIGKILL else 130), output
    if sig == signal.SIGINT:
        assert "interrupted" in output
        if stage != "up":  # the file step's own cleanup ran: old folder back, no staging left
            assert deployed(cluster, name) == v1
            assert beside(cluster, name) == sorted([name, f".{name}.colab"])

    res = ok(cluster.inv("deploy", "--service", name, "--wait", "--json"))
    done = steps(res.stdout)
    assert done["files"][0] == ("ok" if stage == "up" else "changed")  # up: the files were in place already
    assert done["compose up"][0] == "changed" and done["record"][0] == "changed"
    if sig == signal.SIGKILL:
        assert done["lock"][1].startswith("took over from deploy by "), done["lock"]
        assert done["lock"][1].endswith("which did not finish (interrupted)")
        assert done["recover"][0] == "changed", done["recover"]
        expected = {"sync": "removed", "swap": "put ", "up": "removed leftover container "}[stage]
        assert expected in done["recover"][1], done["recover"]
    assert deployed(cluster, name) == source(cluster, name)
    assert beside(cluster, name) == sorted([name, f".{name}.colab"])
    assert healthy(name) and memory(name) == V2_MEMORY  # exactly one container: no leftover


def test_a_deploy_killed_alone_keeps_the_lock_while_the_compose_it_started_runs(
    cluster: TestCluster, tmp_path: Path
) -> None:
    """kill -9 of the Python process only: its `docker compose up` goes on, and so does the lock."""
    name = cluster.services[0]
    ok(cluster.inv("deploy", "--service", name))
    make_v2(cluster, name)
    proxy = EngineProxy(tmp_path / "engine.sock", STOP_OLD)
    try:
        run = cluster.start("deploy", "--service", name, env={"DOCKER_HOST": proxy.docker_host})
        wait_for(lambda: proxy.held.is_set() and mid_recreate(name), what="compose to stop the old container")
        os.kill(run.proc.pid, signal.SIGKILL)
        run.finish()
        busy = cluster.inv("deploy", "--service", name)
        assert busy.returncode == 1
        assert f"pid {run.proc.pid}, since " in busy.stderr
        assert "), which has exited while commands it started still run; wait for it to finish" in busy.stderr
        queued = cluster.start("deploy", "--service", name, "--wait", "--json")
        wait_for(lambda: queued.printed("waiting: "), what="the next deploy to wait")
        proxy.release()  # the orphaned compose goes on and finishes its recreate, then the lock is free
        rc, out, err = queued.finish()
    finally:
        proxy.close()
    assert rc == 0, out + err
    assert steps(out)["lock"][1].startswith("waited for deploy by ")
    assert steps(out)["compose up"][0] in ("ok", "changed")
    assert healthy(name) and memory(name) == V2_MEMORY


# ------------------------------------------------------------------------------------------------ rollback


def test_an_unhealthy_new_version_is_rolled_back_and_the_run_fails(cluster: TestCluster) -> None:
    name = cluster.services[0]
    ok(cluster.inv("deploy", "--service", name))
    v1 = deployed(cluster, name)
    compose = cluster.compose_dir(name) / "compose.yaml"
    compose.write_text(web_compose(health=UNHEALTHY).replace("echo web-started", "echo v2-broken-log-line"))
    started = time.monotonic()
    res = cluster.inv("deploy", "--service", name, "--wait-timeout", "30")
    elapsed = time.monotonic() - started
    assert res.returncode == 1, res.stdout + res.stderr
    assert "v2-broken-log-line" in res.stdout and f"{name}: last 30 log lines" in res.stdout  # the new one's logs
    row = next(line for line in res.stdout.splitlines() if f"rollback {name}" in line)
    assert "changed" in row and "deployment #1 is back and healthy in " in row
    took = float(re.search(r"healthy in ([\d.]+)s", row).group(1))  # type: ignore[union-attr]
    print(f"\nautomatic rollback: {took:.1f}s of a failed deploy taking {elapsed:.1f}s in all")
    assert healthy(name) and deployed(cluster, name) == v1
    status = json.loads(ok(cluster.inv("deploy.status", "--service", name, "--json")).stdout)
    assert status[0]["deployment"].startswith("#1 (deploy, ") and status[0]["health"] == "healthy"


def test_no_rollback_keeps_the_failed_version_and_rollback_by_hand_brings_back_the_last_good(
    cluster: TestCluster,
) -> None:
    name = cluster.services[0]
    ok(cluster.inv("deploy", "--service", name))
    v1 = deployed(cluster, name)
    (cluster.compose_dir(name) / "compose.yaml").write_text(web_compose(health=UNHEALTHY))
    res = cluster.inv("deploy", "--service", name, "--wait-timeout", "30", "--no-rollback", "--json")
    assert res.returncode == 1
    assert steps(res.stdout)["rollback"] == (
        "skipped",
        f"--no-rollback: the failed version stays for debugging; `inv deploy.rollback --service {name}` brings back #1",
    )
    assert not healthy(name) and deployed(cluster, name) == source(cluster, name)
    back = ok(cluster.inv("deploy.rollback", "--service", name, "--json"))
    status, detail = steps(back.stdout)["rollback"]
    assert status == "changed" and detail.startswith("deployment #1 is back and healthy in ")
    assert detail.endswith("(was an unrecorded version)")
    assert healthy(name) and deployed(cluster, name) == v1
    row = json.loads(ok(cluster.inv("deploy.status", "--service", name, "--json")).stdout)[0]
    assert row["deployment"].startswith("#1 (rollback from an unrecorded version, ")


def test_rollback_by_hand_goes_back_one_deployment_with_the_images_it_ran(cluster: TestCluster) -> None:
    name = cluster.services[0]
    ok(cluster.inv("deploy", "--service", name))
    v1 = deployed(cluster, name)
    image = the_container(name)["Image"]
    make_v2(cluster, name)
    second = ok(cluster.inv("deploy", "--service", name, "--json"))
    assert steps(second.stdout)["record"] == ("changed", "deployment #2; #1 kept to roll back to")
    assert memory(name) == V2_MEMORY
    back = ok(cluster.inv("deploy.rollback", "--service", name, "--json"))
    assert steps(back.stdout)["rollback"][1].endswith("(was #2)")
    assert deployed(cluster, name) == v1 and memory(name) == 64 * 1024 * 1024 and healthy(name)
    assert the_container(name)["Config"]["Image"] == image  # type: ignore[index]  # pinned to the id #1 ran
    row = json.loads(ok(cluster.inv("deploy.status", "--service", name, "--json")).stdout)[0]
    assert row["deployment"].startswith("#1 (rollback from #2, ")
    again = cluster.inv("deploy.rollback", "--service", name)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"error: deployment #1 is the oldest recorded for {name} on cooperator; nothing to go back to"
    )
    forward = ok(cluster.inv("deploy", "--service", name, "--json"))
    assert steps(forward.stdout)["record"] == ("changed", "deployment #3; #1 kept to roll back to")
    assert memory(name) == V2_MEMORY


def test_a_service_deployed_before_records_is_adopted_and_can_be_rolled_back_to(cluster: TestCluster) -> None:
    """What an earlier version of this tool left: the service runs, nothing is recorded, no label of ours."""
    import shutil

    name = cluster.services[0]
    ok(cluster.inv("deploy", "--service", name))
    v1 = deployed(cluster, name)
    shutil.rmtree(cluster.server_fortress / "docker" / f".{name}.colab")
    (cluster.compose_dir(name) / "compose.yaml").write_text(web_compose(health=UNHEALTHY))
    res = cluster.inv("deploy", "--service", name, "--wait-timeout", "30", "--json")
    assert res.returncode == 1
    done = steps(res.stdout)
    assert done["adopt"] == ("changed", "the version that ran is now deployment #1, to roll back to")
    assert done["rollback"][0] == "changed" and done["rollback"][1].startswith("deployment #1 is back and healthy")
    assert healthy(name) and deployed(cluster, name) == v1


# ----------------------------------------------------------------------------------------------- ownership


def test_a_project_this_tool_did_not_create_is_refused_and_left_untouched(cluster: TestCluster, tmp_path: Path) -> None:
    name = cluster.services[0]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "compose.yaml").write_text(
        "services:\n  other:\n    image: colab-test/busybox:latest\n    command: [sleep, '600']\n"
        "    stop_grace_period: 1s\n    networks: [own]\nnetworks:\n  own: {}\n"
    )
    subprocess.run(["docker", "compose", "-p", name, "up", "-d"], cwd=foreign, check=True, capture_output=True)
    before = project_containers(name)
    nets = subprocess.run(["docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={name}"],
                          capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert len(before) == 1 and len(nets) == 1
    for verb in ("deploy", "deploy.down", "deploy.rollback"):
        res = cluster.inv(verb, "--service", name)
        assert res.returncode == 1, (verb, res.stdout, res.stderr)
        assert res.stderr.strip() == (
            f"error: the Compose project {name} on cooperator was not created by this tool ({name}-other-1, from "
            f"{foreign}, have no org.colab.service label); stop it yourself or rename the service (nothing was changed)"
        )
    assert project_containers(name) == before  # same container, same state
    assert subprocess.run(["docker", "network", "inspect", nets[0]], capture_output=True).returncode == 0
    assert not (cluster.server_fortress / "docker" / name).exists()


# ----------------------------------------------------------------------------------------- failure hygiene


def test_a_full_fortress_leaves_the_old_deployment_intact_and_says_why(cluster: TestCluster, tmp_path: Path) -> None:
    require_root("mounts a small tmpfs as the fortress folder")
    name = cluster.services[0]
    fortress = cluster.server_fortress
    fortress.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "colab-test-full", str(fortress)], check=True)
    for folder in ("docker", "data", "cache"):  # the share's folders, as `inv fortress.share` makes them
        (fortress / folder).mkdir()
    try:
        ok(cluster.inv("deploy", "--service", name))
        v1, before = deployed(cluster, name), project_containers(name)
        filler = fortress / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            with pytest.raises(OSError, match="No space left"):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        (cluster.compose_dir(name) / "extra.bin").write_bytes(os.urandom(64 * 1024))
        res = cluster.inv("deploy", "--service", name, "--json")
        assert res.returncode == 1, res.stdout + res.stderr
        done = steps(res.stdout)
        assert list(done) == ["lock", "recover", "files"] and done["files"][0] == "failed"
        detail = done["files"][1]
        assert re.fullmatch(
            rf"cannot write {fortress}/docker/{name} on cooperator: tar: \S+: Cannot (write|open): No space left on "
            rf"device; free space on fortress \({fortress} on cooperator\), then run again \(the folder is unchanged\)",
            detail,
        ), detail
        assert deployed(cluster, name) == v1 and project_containers(name) == before  # old deployment intact
        assert beside(cluster, name) == sorted([name, f".{name}.colab"])  # no staging folder left
        filler.unlink()
        again = ok(cluster.inv("deploy", "--service", name, "--json"))
        assert steps(again.stdout)["files"][0] == "changed" and (fortress / "docker" / name / "extra.bin").exists()
    finally:
        remove_project(name)
        subprocess.run(["umount", str(fortress)], check=False)


def test_an_unreachable_engine_is_one_line_and_nothing_is_written(cluster: TestCluster, tmp_path: Path) -> None:
    name = cluster.services[0]
    res = cluster.inv("deploy", "--service", name, env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert res.returncode == 1
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith("error: cannot reach the Docker engine of cooperator via the local Docker socket (")
    assert line.endswith("start Docker there or check the node is up (nothing was changed)")
    assert cluster.fortress_untouched()


def test_logs_and_failures_print_without_terminal_escapes(cluster: TestCluster) -> None:
    name = cluster.services[0]
    noisy = web_compose(health=UNHEALTHY).replace("echo web-started", r"printf '\033[2K\033[31mansi-red-line\033[0m\n'")
    (cluster.compose_dir(name) / "compose.yaml").write_text(noisy)
    res = cluster.inv("deploy", "--service", name, "--wait-timeout", "20")
    assert res.returncode == 1
    assert "ansi-red-line" in res.stdout and "\x1b" not in res.stdout + res.stderr
    logs = ok(cluster.inv("deploy.logs", "--service", name))
    assert "ansi-red-line" in logs.stdout and "\x1b" not in logs.stdout


# ------------------------------------------------------------------------------------------------ network


def test_first_deploys_of_two_services_at_once_create_the_network_once(cluster: TestCluster, tmp_path: Path) -> None:
    web, api = cluster.services
    marks = tmp_path / "marks"
    marks.mkdir()
    shims = tmp_path / "shims"
    shims.mkdir()
    real = subprocess.run(["sh", "-c", "command -v docker"], capture_output=True, text=True).stdout.strip()
    (shims / "docker").write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "network create" ]; then echo $$ > "$COLAB_TEST_MARKS/network"; kill -STOP $$; fi\n'
        f'exec {real} "$@"\n'
    )
    (shims / "docker").chmod(0o755)
    first = cluster.start(
        "deploy",
        "--service",
        web,
        "--json",
        env={"PATH": f"{shims}:{os.environ['PATH']}", "COLAB_TEST_MARKS": str(marks)},
    )
    wait_for(lambda: marker(marks, "network"), what="the first deploy to create the network")
    second = cluster.start("deploy", "--service", api, "--json")
    wait_for(lambda: second.printed(f"waiting: network {cluster.network} on cooperator is locked"), what="a wait")
    os.kill(marker(marks, "network") or 0, signal.SIGCONT)
    (rc1, out1, err1), (rc2, out2, err2) = first.finish(), second.finish()
    assert (rc1, rc2) == (0, 0), out1 + err1 + out2 + err2
    assert steps(out1)["network"][0] == "changed"
    assert steps(out2)["network"] == ("skipped", "made meanwhile by another run")
    assert healthy(web) and healthy(api)
