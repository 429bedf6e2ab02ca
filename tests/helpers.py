"""Small helpers for tests; the service launchers live in mimamori_dev.services."""

from mimamori_dev.services import free_port, wait_for_port

__all__ = ["free_port", "wait_for_port"]
