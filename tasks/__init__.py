"""Invoke namespace: `inv --list` from the repo root. Tasks stay thin; logic lives in src/colab."""

from pathlib import Path

from invoke.collection import Collection

from colab import checkout, cli
from tasks import backup, deploy, fortress, inventory, node, raid, registry, rotation, service
from tasks import bootstrap as bootstrap_tasks
from tasks import render as render_tasks
from tasks import rollout as rollout_tasks
from tasks import status as status_tasks

checkout.require_same(Path(__file__).parent)  # act on this checkout, or stop saying whose package would run
cli.option_errors()  # `--wait-timeout abc`: one line, not a traceback
cli.quiet_broken_pipe()  # `inv --list | head`: no BrokenPipeError traceback

ns = Collection()
ns.add_collection(Collection.from_module(inventory), name="inventory")
ns.add_collection(Collection.from_module(backup), name="backup")
ns.add_collection(Collection.from_module(deploy), name="deploy")
ns.add_task(render_tasks.render)
ns.add_task(status_tasks.status)
ns.add_task(rollout_tasks.rollout)
ns.add_collection(Collection.from_module(fortress), name="fortress")
ns.add_collection(Collection.from_module(raid), name="raid")
ns.add_collection(Collection.from_module(bootstrap_tasks), name="bootstrap")
ns.add_collection(Collection.from_module(service), name="service")
ns.add_collection(Collection.from_module(rotation), name="secrets")
ns.add_collection(Collection.from_module(node), name="node")
ns.add_collection(Collection.from_module(registry), name="registry")
