"""The `acyclic_modules` import contract (mimamori_dev/import_contracts.py): its cycle finder
against plain reachability on graphs it did not choose (`make imports` runs it on the cloud)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mimamori_dev.import_contracts import _strongly_connected

NAMES = [f"m{i}" for i in range(8)]


def _reach(imports: dict[str, list[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in imports[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


graphs = st.dictionaries(
    st.sampled_from(NAMES), st.lists(st.sampled_from(NAMES), unique=True), min_size=1
).map(lambda g: {n: [m for m in g.get(n, []) if m in g] for n in g})


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_components_are_exactly_the_modules_that_reach_each_other(
    imports: dict[str, list[str]],
) -> None:
    components = _strongly_connected(imports)
    assert sorted(m for c in components for m in c) == sorted(imports)  # a partition
    reach = {m: _reach(imports, m) for m in imports}
    for component in components:
        for a in component:
            for b in imports:
                together = b in component
                assert together == (a == b or (b in reach[a] and a in reach[b]))


def test_a_long_chain_back_to_its_start_is_one_cycle() -> None:
    names = [f"m{i}" for i in range(5000)]  # deeper than the recursion limit
    imports = {a: [b] for a, b in zip(names, names[1:] + names[:1], strict=True)}
    [component] = _strongly_connected(imports)
    assert sorted(component) == sorted(names)
