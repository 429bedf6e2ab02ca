"""Channel-agnostic notification: one interface (base.Channel), one channel per module."""
