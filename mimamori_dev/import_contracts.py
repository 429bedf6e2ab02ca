"""An import-linter contract the built-in ones cannot say: "these packages import only X".

`forbidden` lists what may not be imported; the wire contract's rule is the other way round
(pydantic and the standard library, nothing else), so a new dependency must break it by default.
"""

from __future__ import annotations

import sys

import grimp
from importlinter import Contract, ContractCheck, fields, output


class OnlyImportsContract(Contract):
    """Every direct import of `source_modules` is inside them, in `allowed_modules`, or stdlib.

    Needs `include_external_packages = True` so third-party packages appear in the graph.
    """

    type_name = "only_imports"

    source_modules = fields.ListField(subfield=fields.ModuleField())
    allowed_modules = fields.ListField(subfield=fields.ModuleField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        sources = [m.name for m in self.source_modules]  # type: ignore[attr-defined]
        allowed = [m.name for m in self.allowed_modules or []]  # type: ignore[attr-defined]

        def inside(name: str, roots: list[str]) -> bool:
            return any(name == r or name.startswith(r + ".") for r in roots)

        bad: list[dict[str, object]] = []
        for source in sources:
            for module in sorted(graph.find_descendants(source) | {source}):
                for imported in sorted(graph.find_modules_directly_imported_by(module)):
                    top = imported.split(".")[0]
                    if inside(imported, sources + allowed) or top in sys.stdlib_module_names:
                        continue
                    bad.append({"importer": module, "imported": imported})
        return ContractCheck(kept=not bad, warnings=[], metadata={"bad": bad})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for item in check.metadata["bad"]:
            output.print_error(f"{item['importer']} imports {item['imported']} (not allowed)")
            output.new_line()


class AcyclicModulesContract(Contract):
    """No module inside `source_modules` imports itself back through other modules.

    import-linter's `acyclic_siblings` works on packages; a package may hold a pure core that
    everything reads and an adapter that reads everything (cloud.escalation: chain/state and
    runner/steps), so the cycles that matter are between modules.
    """

    type_name = "acyclic_modules"

    source_modules = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        roots = [m.name for m in self.source_modules]  # type: ignore[attr-defined]
        modules = set().union(*({r} | graph.find_descendants(r) for r in roots))
        imports = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
        cycles = [sorted(c) for c in _strongly_connected(imports) if len(c) > 1]
        return ContractCheck(kept=not cycles, warnings=[], metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error("these modules import each other: " + ", ".join(cycle))
            output.new_line()


def _strongly_connected(imports: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a deep import chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(imports):
        if root in index:
            continue
        work = [(root, iter(imports[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    found.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(imports[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found
