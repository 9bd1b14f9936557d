"""Colab cluster ops: run a small mixed home-lab cluster from one git repository."""

__version__ = "0.1.0"
