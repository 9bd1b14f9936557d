"""The alert rules and the Prometheus and Alertmanager configs, checked by the real tools: `promtool check
rules` / `check config`, `promtool test rules` (alerts.test.yml beside this file: every rule fires in a case
and stays quiet in another), `amtool check-config`; for the default inventory and for variants."""

from __future__ import annotations

import copy
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from colab import inventory
from colab.render.tree import render_tree
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[3]
CASES = Path(__file__).parent / "alerts.test.yml"
RULES = ROOT / "compose" / "prometheus" / "alerts.yml"
FILES = ["compose/prometheus/prometheus.yml", "compose/prometheus/alerts.yml", "compose/alertmanager/alertmanager.yml"]


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd)


def rule_names(text: str) -> list[str]:
    return re.findall(r"^\s*- alert: (\w+)$", text, re.MULTILINE)


def test_every_rule_has_a_case_that_fires_and_one_that_does_not() -> None:
    names = rule_names(RULES.read_text())
    assert len(names) == 10 and len(set(names)) == 10
    cases = CASES.read_text()
    for name in names:
        blocks = re.findall(rf"alertname: {name}\n\s+exp_alerts:(.*?)(?=\n\s+- eval_time|\n\n|\Z)", cases, re.S)
        assert any(b.strip() == "[]" for b in blocks), f"{name}: no case where it stays quiet"
        assert any("exp_labels" in b for b in blocks), f"{name}: no case where it fires"


def test_promtool_test_rules_passes() -> None:
    require_tool("promtool")
    res = run("promtool", "test", "rules", CASES.name, cwd=CASES.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_promtool_test_rules_can_fail(tmp_path: Path) -> None:
    """The cases are checked for real: a rule with another threshold fails them."""
    require_tool("promtool")
    (tmp_path / "alerts.yml").write_text(RULES.read_text().replace("> 26 * 3600", "> 28 * 3600"))
    (tmp_path / "cases.yml").write_text(
        CASES.read_text().replace("../../../compose/prometheus/alerts.yml", "alerts.yml")
    )
    res = run("promtool", "test", "rules", "cases.yml", cwd=tmp_path)
    assert res.returncode != 0
    assert "ColabBackupTooOld" in res.stdout + res.stderr


def _variant(which: str) -> dict[str, Any]:
    d = copy.deepcopy(tomllib.loads((ROOT / "cluster.toml").read_text()))
    mon = d["monitoring"]
    if which in ("ntfy", "both"):
        mon["ntfy_url"] = "https://ntfy.example.org/colab-alerts"
        d["services"]["alertmanager"]["secrets"] = ["ALERT_NTFY_TOKEN"]
    if which in ("email", "both"):
        mon.update(email_to="owner@example.org", email_from="colab@example.org", smtp="smtp.example.org:587")
        mon["smtp_user"] = "colab"
        d["services"]["alertmanager"]["secrets"] = [*d["services"]["alertmanager"]["secrets"], "ALERT_SMTP_PASSWORD"]
    if which == "no-alertmanager":
        del d["services"]["alertmanager"]
    return d


@pytest.mark.parametrize("which", ["default", "ntfy", "email", "both", "no-alertmanager"])
def test_rendered_configs_pass_the_real_checkers(which: str, tmp_path: Path) -> None:
    require_tool("promtool", "amtool")
    tree = render_tree(inventory.from_dict(_variant(which)))
    for path in FILES:
        if path in tree:
            (tmp_path / Path(path).name).write_bytes(tree[path])
    res = run("promtool", "check", "config", "prometheus.yml", cwd=tmp_path)  # loads alerts.yml beside it
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS: 10 rules found" in res.stdout
    if which == "no-alertmanager":
        assert "compose/alertmanager/alertmanager.yml" not in tree
        assert "alertmanagers:\n    []" in (tmp_path / "prometheus.yml").read_text()
        return
    res = run("amtool", "check-config", "alertmanager.yml", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    text = (tmp_path / "alertmanager.yml").read_text()
    assert ("receiver: colab" in text) == (which != "default")
    assert ('credentials_file: "/run/alertmanager/ntfy-token"' in text) == (which in ("ntfy", "both"))
    assert ('auth_password_file: "/run/alertmanager/smtp-password"' in text) == (which in ("email", "both"))


def test_the_committed_files_are_what_the_default_inventory_renders() -> None:
    tree = render_tree(inventory.load(ROOT / "cluster.toml"))
    for path in FILES:
        assert (ROOT / path).read_bytes() == tree[path], f"{path} is stale: run `inv render`"


def test_a_broken_rule_is_refused_by_promtool(tmp_path: Path) -> None:
    require_tool("promtool")
    broken = tmp_path / "alerts.yml"
    broken.write_text(RULES.read_text().replace("colab_fortress_mounted == 0", "colab_fortress_mounted == ="))
    res = run("promtool", "check", "rules", str(broken))
    assert res.returncode == 1
    assert '"ColabFortressNotMounted": could not parse expression' in res.stdout + res.stderr
