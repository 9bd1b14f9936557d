"""Invoke namespace: `inv --list` from the repo root. Tasks stay thin; logic lives in src/colab."""

from invoke import Collection

from tasks import inventory
from tasks import render as render_tasks

ns = Collection()
ns.add_collection(Collection.from_module(inventory), name="inventory")
ns.add_task(render_tasks.render)
