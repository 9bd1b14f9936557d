"""Reusable step builders (pyinfra-style operations): each returns a Step for one piece of state."""
