"""The gateway <-> cloud wire contract. Import from here; the versioned module is v1."""

from mimamori_wire.v1 import *  # noqa: F403
from mimamori_wire.v1 import __all__  # noqa: F401
