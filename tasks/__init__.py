"""Invoke namespace: `inv --list` from the repo root. Tasks stay thin; logic lives in src/colab."""

from invoke import Collection

from tasks import inventory

ns = Collection()
ns.add_collection(Collection.from_module(inventory), name="inventory")
