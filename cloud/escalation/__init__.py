"""Escalation: the pure chain and incident states (chain.py, state.py), what each step does
(steps.py), and the pass that runs due steps (runner.py)."""
