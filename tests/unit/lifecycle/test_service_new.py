"""`inv service.new`: every template's compose file (fixtures), the inventory entry placed after the last service
with everything else byte for byte, the MCP token added to Caddy's secrets, the port and the refusals (one line,
nothing written); the redeploys a new domain causes; tables added and removed by lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from colab import inventory
from colab.errors import ColabError
from colab.lifecycle import scaffolds, service_new, tables
from colab.render import disk
from tests.unit.lifecycle.fakes import ROOT

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.toml"
    shutil.copy2(ROOT / "cluster.toml", path)
    return path


@pytest.mark.parametrize("template", list(scaffolds.SCAFFOLDS))
def test_each_template_gives_exactly_its_fixture(copy: Path, tmp_path: Path, template: str) -> None:
    plan = service_new.plan(copy, service_new.Request("web-shop", "director", template), output=tmp_path / "out")
    assert plan.compose_text == (FIXTURES / f"compose-{template}.yaml").read_text()
    for secret in plan.secrets:  # every secret by name, required
        assert f"${{{secret}:?{secret} must come from Infisical}}" in plan.compose_text
    assert "healthcheck:" in plan.compose_text and "limits:" in plan.compose_text
    assert "${COLAB_DATA_DIR:?" in plan.compose_text and '"127.0.0.1:${COLAB_PORT:?' in plan.compose_text


def test_the_entry_goes_after_the_last_service_and_the_rest_stays_byte_for_byte(copy: Path, tmp_path: Path) -> None:
    before = copy.read_text()
    plan = service_new.plan(copy, service_new.Request("wiki", "director", "web-db"))
    assert copy.read_text() == before  # planning writes nothing
    new = plan.prepared.new_text
    head, _, tail = before.partition("\n# Routes to things")
    assert new == head + "\n" + plan.table_text.rstrip("\n") + "\n\n# Routes to things" + tail
    assert plan.table_text == (FIXTURES / "entry-web-db.toml").read_text()
    svc = plan.new_inventory.services["wiki"]
    assert (svc.node, svc.compose, svc.port, svc.domains) == ("director", "compose/wiki", 8100, ["wiki.ism.la"])
    assert [(d.service, d.name, d.user) for d in svc.databases] == [("db", "wiki", "wiki")]
    assert plan.secrets == ["WIKI_DB_PASSWORD"] and plan.secrets_path == "/wiki"


def test_a_new_domain_means_caddy_pihole_and_the_acl_are_redeployed(copy: Path) -> None:
    plan = service_new.plan(copy, service_new.Request("wiki", "director", "web"))
    got = {c.service: c.reason for c in plan.prepared.changes}
    assert got["wiki"] == "new service: deploy it"
    assert got["caddy"] == "compose/caddy/Caddyfile changed"
    assert got["pihole"] == "compose/pihole/custom.list changed"
    assert got["headscale"] == "compose/headscale/acl.hujson changed"  # caddy's node reaches wiki on director
    assert set(got) == {"wiki", "caddy", "pihole", "headscale"}
    quiet = service_new.plan(copy, service_new.Request("quiet", "cooperator", "web", domain=False))
    assert {c.service for c in quiet.prepared.changes} == {"quiet"}


def test_an_mcp_server_adds_its_token_to_caddys_secrets(copy: Path) -> None:
    plan = service_new.plan(copy, service_new.Request("notes", "director", "mcp"))
    inv = plan.new_inventory
    assert inv.services["notes"].bearer_token == "NOTES_AUTH_TOKEN"
    assert inv.services["caddy"].secrets == ["MCP_AUTH_TOKEN", "NOTES_AUTH_TOKEN"]
    assert plan.notes == [
        "services.caddy.secrets: NOTES_AUTH_TOKEN added (Caddy checks it); in Infisical make it visible at /caddy "
        "too, e.g. import /notes there"
    ]
    assert "caddy" in {c.service for c in plan.prepared.changes}


def test_the_port_is_the_first_free_one_on_the_node(copy: Path) -> None:
    inv = inventory.load(copy)
    assert service_new.free_port(inv, "cooperator", 8088) == 8089  # infisical has 8088
    assert service_new.free_port(inv, "cooperator", 9090) == 9091  # Cockpit's route
    assert service_new.free_port(inv, "director") == 8100
    with pytest.raises(ColabError, match=r"^--port 9100 is used by node-exporter-director on director"):
        service_new.plan(copy, service_new.Request("x", "director", port=9100))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (service_new.Request("Wiki", "director"), "'Wiki' is not a service name: use lowercase letters"),
        (service_new.Request("gitea", "director"), "services.gitea is already in the inventory (on cooperator)"),
        (service_new.Request("node-exporter", "director"), "'node-exporter' is the compose folder name the edge and"),
        (service_new.Request("wiki", "nowhere"), "unknown node 'nowhere'; known nodes: cooperator"),
        (service_new.Request("wiki", "director", "php"), "unknown template 'php'; choose from web, web-db, mcp"),
        (service_new.Request("mcp", "director"), "services.mcp.domains[0]: 'mcp.ism.la' is already routed by"),
        (service_new.Request("wiki", "director", image="bad image"), "--image 'bad image' is not an image reference"),
        (service_new.Request("wiki", "director", image="app:1\n    privileged: true"), "--image 'app:1\\n    privi"),
    ],
)  # fmt: skip
def test_refusals_are_one_line_and_write_nothing(
    copy: Path, tmp_path: Path, request_: service_new.Request, message: str
) -> None:
    before = copy.read_text()
    with pytest.raises(ColabError) as e:
        plan = service_new.plan(copy, request_, output=tmp_path / "out")
        service_new.apply(plan)
    assert message in str(e.value) and len(str(e.value).splitlines()) == 1
    assert copy.read_text() == before and not (tmp_path / "out").exists()


def test_apply_writes_the_folder_the_inventory_and_the_render_and_a_failed_render_undoes_them(
    copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    plan = service_new.plan(copy, service_new.Request("wiki", "director", "busybox"), output=out)

    def broken(*args: object, **kwargs: object) -> list[str]:
        raise OSError("disk full")

    before = copy.read_text()
    monkeypatch.setattr(disk, "write_tree", broken)
    with pytest.raises(OSError):
        service_new.apply(plan)
    assert copy.read_text() == before and not (out / "compose" / "wiki").exists()
    monkeypatch.undo()
    applied = service_new.apply(plan)
    assert (out / "compose" / "wiki" / "compose.yaml").read_text() == plan.compose_text
    assert copy.read_text() == plan.prepared.new_text
    assert applied.total == len(plan.prepared.tree) and "mise.toml" in applied.rendered
    assert inventory.load(copy).services["wiki"].compose == str(out / "compose" / "wiki")


def test_tables_are_removed_with_their_blank_line_and_nothing_else() -> None:
    text = (ROOT / "cluster.toml").read_text()
    without = tables.remove_table(text, "nodes", "director")
    assert "[nodes.director]" not in without and "\n\n\n" not in without
    assert tables.add_table(without, "nodes", "director", {"arch": "amd64"}).count("[nodes.director]") == 1
    last = tables.remove_table(text, "nodes", "terminator")
    assert "gpu = true\n\n# --- storage" in last and "[nodes.terminator]" not in last
    with pytest.raises(ColabError, match=r"^nodes.nope is not in the inventory"):
        tables.remove_table(text, "nodes", "nope")
    with pytest.raises(ColabError, match=r"^services.gitea is already in the inventory"):
        tables.add_table(text, "services", "gitea", {"node": "x"})
