"""The home daemon: schedule, dialogue runs, life signs, durable outbox, uplink."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mimamori")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"
