"""Test harness: build the local test images and drive the containers made from them.

Plain functions with type hints, usable from fixtures and from a shell at the repository root
(`python -m tests.harness.images`). Nothing here pulls from a registry: every image is built from
Debian's mirror (debootstrap) or from binaries on this machine.
"""
