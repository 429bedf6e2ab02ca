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
