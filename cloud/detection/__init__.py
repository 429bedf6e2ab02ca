"""Detection: which passed deadlines mean a missed check-in or an offline gateway (rules.py),
and the pass that claims due households and opens their incidents (runner.py)."""
