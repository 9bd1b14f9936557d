"""File sync to the target's folder with the real sh/tar/sha256sum: idempotent, complete, repairs a cut-off run."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from rich.console import Console

from colab import inventory
from colab.deploy import generated, sync
from colab.deploy.target import Target, resolve
from colab.errors import ColabError
from colab.runner import Runner

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = ROOT / "tests" / "fixtures" / "inventories" / "loopback.toml"


@pytest.fixture
def target(tmp_path: Path) -> Target:
    """A loopback inventory whose fortress is in tmp and whose `web` service's compose folder is in tmp."""
    src = tmp_path / "src" / "web"
    (src / "conf").mkdir(parents=True)
    (src / "compose.yaml").write_text("services: {}\n")
    (src / "conf" / "app.ini").write_text("[app]\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    (src / ".env").write_text("NOT=synced\n")  # hidden files stay behind
    text = LOOPBACK.read_text().replace('path = "/srv/fortress"', f'path = "{tmp_path / "fortress"}"')
    text += f'\n[services.web]\nnode = "cooperator"\ncompose = "{src}"\nsecrets_path = "/web"\n'
    return resolve(inventory.parse(text), "web", here="cooperator")


def runner() -> Runner:
    return Runner("cooperator", console=Console(file=io.StringIO()))


def listing(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): p.read_text() for p in sorted(path.rglob("*")) if p.is_file()}


def test_collect_takes_the_folder_and_the_generated_files_and_skips_hidden_ones(target: Target) -> None:
    files = sync.collect(target, {"Generated": "x\n"})
    assert [(f.path, f.mode) for f in files] == [
        ("Generated", "644"), ("compose.yaml", "644"), ("conf/app.ini", "644"), ("run.sh", "755")
    ]  # fmt: skip
    with pytest.raises(ColabError, match=r"compose.yaml is generated from the inventory at deploy time"):
        sync.collect(target, {"compose.yaml": "x"})


def test_tar_is_reproducible_and_holds_the_modes() -> None:
    files = [sync.File("a/b.txt", b"hi", "644"), sync.File("x.sh", b"#!", "755")]
    assert sync.tar_bytes(files) == sync.tar_bytes(files)
    with tarfile.open(fileobj=io.BytesIO(sync.tar_bytes(files))) as tar:
        assert [(m.name, oct(m.mode)) for m in tar.getmembers()] == [
            ("a", "0o755"), ("a/b.txt", "0o644"), ("x.sh", "0o755")
        ]  # fmt: skip


def test_first_sync_writes_everything_then_the_check_finds_nothing_to_do(target: Target) -> None:
    files = sync.collect(target, {})
    r = runner()
    assert sync.differences(target, files, r) == (
        f"{target.data_dir} is missing; {target.project_dir} is empty or missing"
    )
    sync.put(target, files, r)
    assert sync.differences(target, files, r) is None
    project = Path(target.project_dir)
    assert listing(project) == {"compose.yaml": "services: {}\n", "conf/app.ini": "[app]\n", "run.sh": "#!/bin/sh\n"}
    assert os.stat(project / "run.sh").st_mode & 0o777 == 0o755
    assert Path(target.data_dir).is_dir()
    assert sorted(p.name for p in project.parent.iterdir()) == ["web"]  # no staging folders left


def test_a_changed_or_extra_file_is_found_and_the_folder_replaced_whole(target: Target) -> None:
    files = sync.collect(target, {})
    r = runner()
    sync.put(target, files, r)
    project = Path(target.project_dir)
    (project / "conf" / "app.ini").write_text("edited by hand\n")
    (project / "stray.txt").write_text("left over\n")
    assert sync.differences(target, files, r) == "2 file(s) differ: conf/app.ini, stray.txt"
    sync.put(target, files, r)
    assert sync.differences(target, files, r) is None
    assert "stray.txt" not in listing(project)


def test_a_run_cut_off_between_the_renames_is_repaired(target: Target) -> None:
    files = sync.collect(target, {})
    r = runner()
    sync.put(target, files, r)
    project = Path(target.project_dir)
    # what a run killed after `mv dir .dir.colab-old` leaves behind: the old folder renamed, a staging folder
    old = project.parent / ".web.colab-old"
    project.rename(old)
    (project.parent / ".web.colab-new").mkdir()
    assert sync.differences(target, files, r) == f"{target.project_dir} is empty or missing"
    sync.put(target, files, r)
    assert sync.differences(target, files, r) is None
    assert sorted(p.name for p in project.parent.iterdir()) == ["web"]


def test_an_unwritable_fortress_is_one_clear_error(target: Target, tmp_path: Path) -> None:
    blocker = tmp_path / "fortress"
    blocker.write_text("a file where the fortress folder should be")
    with pytest.raises(ColabError, match=r"cannot write .*/docker/web on cooperator: .*; check that .* is mounted"):
        sync.put(target, sync.collect(target, {}), runner())


def test_generated_files_exist_only_for_headscale() -> None:
    inv = inventory.load(ROOT / "cluster.toml")
    rendered = {name: generated.render(inv, resolve(inv, name, here=svc.node)) for name, svc in inv.services.items()}
    assert {k: sorted(v) for k, v in rendered.items() if v} == {"headscale": ["config.yaml"]}  # Caddyfile: inv render
    headscale = rendered["headscale"]["config.yaml"]
    assert '"server_url": "https://hs.ism.la"' in headscale and '"v4": "100.64.0.0/16"' in headscale
    assert '"listen_addr": "0.0.0.0:8080"' in headscale and '"192.168.254.10"' in headscale


def test_leftovers_of_an_interrupted_run_are_found_and_repaired_even_when_files_are_equal(target: Target) -> None:
    files = sync.collect(target, {})
    r = runner()
    sync.put(target, files, r)
    project = Path(target.project_dir)
    (project.parent / ".web.colab-new").mkdir()
    (project.parent / ".web.colab-new" / "half").write_text("x")
    (project.parent / ".web.colab-old").mkdir()
    found = sync.inspect(target, r)
    assert sync.differences(target, files, r, found) is None  # the files are right …
    assert found.leftovers == [str(project.parent / ".web.colab-new"), str(project.parent / ".web.colab-old")]
    assert sync.recover(target, r) == [f"removed {x}" for x in found.leftovers]  # … and the leftovers still go
    assert sorted(p.name for p in project.parent.iterdir()) == ["web"]


def test_a_folder_renamed_away_is_put_back_by_recover(target: Target) -> None:
    files = sync.collect(target, {})
    r = runner()
    sync.put(target, files, r)
    project = Path(target.project_dir)
    project.rename(project.parent / ".web.colab-old")
    assert sync.recover(target, r) == [f"put {project.parent / '.web.colab-old'} back"]
    assert sync.differences(target, files, r) is None


def test_a_failed_unpack_leaves_the_old_folder_and_no_staging(target: Target) -> None:
    files = sync.collect(target, {})
    r = runner()
    sync.put(target, files, r)
    project = Path(target.project_dir)
    before = listing(project)
    res = r.run(*sync.sync_argv(target), stdin=sync.tar_bytes(files)[:700], check=False)  # a cut-off stream
    assert not res.ok
    assert listing(project) == before
    assert sorted(p.name for p in project.parent.iterdir()) == ["web"]


def test_fetch_reads_the_folder_back_as_files(target: Target) -> None:
    files = sync.collect(target, {})
    r = runner()
    sync.put(target, files, r)
    assert sync.fetch(target, r) == files
