"""`inv node.add` / `inv node.remove`: the entry placed after the last node (the rest byte for byte), defaults
from the inventory, its node-exporter, the edge services to redeploy, the refusals (one line, nothing written),
and add then remove giving back the same file."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from colab import inventory
from colab.errors import ColabError
from colab.lifecycle import edit, nodes_edit
from tests.harness.inv import run_inv
from tests.unit.lifecycle.fakes import ROOT

BUILDER = nodes_edit.NewNode("builder", lan="192.168.254.50", mesh="100.64.0.8")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.toml"
    shutil.copy2(ROOT / "cluster.toml", path)
    return path


def test_the_node_goes_after_the_last_node_and_the_rest_stays_byte_for_byte(copy: Path, tmp_path: Path) -> None:
    before = copy.read_text()
    added = nodes_edit.plan_add(copy, BUILDER, output=tmp_path / "out")
    assert copy.read_text() == before  # planning writes nothing
    new = added.prepared.new_text
    head, _, _ = before.partition("\n# --- storage")
    assert new.startswith(head + "\n" + added.table_text.rstrip("\n") + "\n\n# --- storage")
    node = added.prepared.new.nodes["builder"]
    # defaults from the inventory: the user most nodes use, the checkout of a Debian/WSL node with that user
    assert (node.ssh_user, node.repo, node.os, node.availability) == ("crtr", "/home/crtr/colab", "debian", "always")
    assert added.exporter == "node-exporter-builder"
    svc = added.prepared.new.services["node-exporter-builder"]
    model = added.prepared.old.services["node-exporter-director"]
    assert (svc.node, svc.compose, svc.port) == ("builder", model.compose, model.port)
    assert "[services.node-exporter-builder] # inv node.add" in added.exporter_text


def test_a_new_node_means_the_acl_the_dns_records_and_the_scrape_targets_are_redeployed(copy: Path) -> None:
    added = nodes_edit.plan_add(copy, BUILDER)
    got = {c.service: c.reason for c in added.prepared.changes}
    assert got == {
        "pihole": "compose/pihole/custom.list changed",
        "headscale": "compose/headscale/acl.hujson changed",
        "prometheus": "compose/prometheus/prometheus.yml changed",
        "node-exporter-builder": "new service: deploy it",
    }
    records = added.prepared.tree["compose/pihole/custom.list"].decode()
    assert "192.168.254.50 builder.colab.ism.la" in records.splitlines()
    assert b"100.64.0.8" in added.prepared.tree["compose/headscale/acl.hujson"]
    bare = nodes_edit.plan_add(copy, nodes_edit.NewNode("mac2", "192.168.254.51", "100.64.0.9", os="macos"))
    assert bare.exporter == "" and bare.prepared.new.nodes["mac2"].repo == "/Users/crtr/colab"
    assert "prometheus" not in {c.service for c in bare.prepared.changes}


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (nodes_edit.NewNode("Bad", "192.168.254.50", "100.64.0.8"), r"^'Bad' is not a node name"),
        (nodes_edit.NewNode("director", "192.168.254.50", "100.64.0.8"), r"^nodes\.director is already in"),
        (nodes_edit.NewNode("x1", "", "100.64.0.8"), r"^--lan is required: .*the next free one: 192\.168\.254\.71\)$"),
        (nodes_edit.NewNode("x1", "192.168.254.50", ""), r"^--mesh is required: .*the next free one: 100\.64\.0\.8\)$"),
        (nodes_edit.NewNode("x1", "192.168.254.10", "100.64.0.8"), r"192\.168\.254\.10 is already used by nodes\.coop"),
        (nodes_edit.NewNode("x1", "10.0.0.5", "100.64.0.8"), r"nodes\.x1\.lan"),
        (nodes_edit.NewNode("x1", "192.168.254.50", "100.64.0.8", os="beos"), r"nodes\.x1\.os"),
        (nodes_edit.NewNode("x1", "192.168.254.50", "100.64.0.8", ssh_user="bob", repo="/x"), r"bob"),
        (
            nodes_edit.NewNode("x1", "192.168.254.50", "100.64.0.8", ssh_user="bob"),
            r"^--repo is required: no debian node of the inventory checks out the repo as 'bob'; give the "
            r"checkout's path, e\.g\. --repo /home/bob/colab$",
        ),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(copy: Path, tmp_path: Path, req: nodes_edit.NewNode,
                                                       message: str) -> None:  # fmt: skip
    before = copy.read_text()
    with pytest.raises(ColabError, match=message) as e:
        nodes_edit.plan_add(copy, req, output=tmp_path / "out")
    assert "\n" not in str(e.value).strip()
    assert copy.read_text() == before and not (tmp_path / "out").exists()


def test_add_then_remove_gives_back_the_same_file_and_the_same_render(copy: Path, tmp_path: Path) -> None:
    before = copy.read_text()
    out = tmp_path / "out"
    added = nodes_edit.plan_add(copy, BUILDER, output=out)
    edit.apply(added.prepared)
    assert "builder" in inventory.load(copy).nodes
    assert (out / "chezmoi/.nodes/builder.chezmoiignore").exists()
    removed = nodes_edit.plan_remove(copy, "builder", output=out)
    assert removed.exporter == "node-exporter-builder"
    gone = {c.service: c for c in removed.prepared.changes}
    assert gone["node-exporter-builder"].removed and set(gone) >= {"pihole", "headscale", "prometheus"}
    edit.apply(removed.prepared)
    assert copy.read_text() == before
    assert not (out / "chezmoi/.nodes/builder.chezmoiignore").exists()  # render removes what it no longer makes


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cooperator", r"^cooperator runs services caddy, .*: stop them \(inv deploy\.down --service caddy; "),
        ("nowhere", r"nowhere"),
    ],
)
def test_remove_refuses_a_node_that_still_runs_services(copy: Path, name: str, message: str) -> None:
    before = copy.read_text()
    with pytest.raises(ColabError, match=message):
        nodes_edit.plan_remove(copy, name)
    assert copy.read_text() == before


def _without_runner(copy: Path) -> str:
    """The inventory without Gitea's runner, so that director runs only its node-exporter."""
    text = copy.read_text()
    table = re.search(r"^\[services\.gitea-runner\]\n(?:[^\n]+\n)*\n", text, re.M)
    assert table is not None
    copy.write_text(text := text.replace(table.group(0), ""))
    return text


def test_remove_refuses_a_node_that_holds_the_raid_the_backups_or_the_offsite_copy(copy: Path) -> None:
    before = _without_runner(copy)
    with pytest.raises(ColabError, match=r"^director is backup\.offsite\.node in the inventory: move that to another"):
        nodes_edit.plan_remove(copy, "director")  # its only service, its node-exporter, would go with it
    text = before
    for section in ("raid", "backup"):
        text = text.replace(f'[{section}]\nnode = "cooperator"', f'[{section}]\nnode = "writer"')
    copy.write_text(text)
    with pytest.raises(ColabError, match=r"^writer is raid\.node, backup\.node in the inventory: move that"):
        nodes_edit.plan_remove(copy, "writer")
    assert copy.read_text() == text


def test_a_node_with_only_its_exporter_is_removed_with_it(copy: Path) -> None:
    text = _without_runner(copy)  # the off-site copy moves to writer too
    moved = text.replace('node = "director"                      # SFTP', 'node = "writer"  # SFTP')
    assert moved != text
    copy.write_text(moved)
    removed = nodes_edit.plan_remove(copy, "director")
    new = removed.prepared.new
    assert "director" not in new.nodes and "node-exporter-director" not in new.services
    assert removed.exporter == "node-exporter-director"
    writer = nodes_edit.plan_remove(copy, "terminator")
    assert writer.exporter == "" and "terminator" not in writer.prepared.new.nodes


def test_the_tasks_dry_run_writes_nothing_and_a_refusal_is_one_line(copy: Path, tmp_path: Path) -> None:
    before = copy.read_text()
    out = tmp_path / "out"
    res = run_inv("node.add", "builder", "--lan", "192.168.254.50", "--mesh", "100.64.0.8", "--inventory", str(copy),
               "--output", str(out), "--dry-run", "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["written"] is False and data["node"] == "builder"
    assert {r["service"] for r in data["redeploy"]} == {"pihole", "headscale", "prometheus", "node-exporter-builder"}
    assert copy.read_text() == before and not out.exists()
    res = run_inv("node.remove", "cooperator", "--inventory", str(copy))
    assert res.returncode == 1 and res.stderr.startswith("error: cooperator runs services caddy, ")
    assert res.stderr.count("\n") == 1 and copy.read_text() == before
