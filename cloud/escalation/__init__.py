"""Escalation: pure chain/state logic (chain.py, state.py) and the database worker (worker.py)."""
