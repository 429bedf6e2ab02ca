"""The rule book shared by gateway and cloud: schedule maths and dialogue outcome rules.

Pure: the standard library and mimamori_wire only (no I/O, no clock). Both sides import it
instead of keeping copies that drift apart (docs/architecture.md).
"""
