"""Compare two aggregate dumps of ``scripts/bench_aggregate.py --dump``: identical or not.

Reports whether the two files hold the same aggregates bit for bit (floats as written, with
``repr`` precision) and, if not, per field the largest absolute difference and the subjects
where it occurs, and every structural difference (a component present in one only, arms or
members that differ in number or content). A field is named by its path with list positions
dropped: ``model.disk.re``, ``model.arms.points``, ``model.arms.fit.pitch_angle_deg``,
``members.disk``.
Exits 0 when the dumps are identical, 1 otherwise.

    python scripts/compare_aggregates.py A.json B.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Differences:
    """Largest difference per field, and which subjects differ (method, subject id)."""

    largest: dict[str, float] = field(default_factory=dict)
    subjects: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    structural: list[str] = field(default_factory=list)

    def number(self, where: tuple[str, str], name: str, a: float, b: float) -> None:
        if a == b or (math.isnan(a) and math.isnan(b)):
            return
        gap = abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.inf
        self.largest[name] = max(self.largest.get(name, 0.0), gap)
        self.subjects[name].add(where)

    def shape(self, where: tuple[str, str], name: str, text: str) -> None:
        self.structural.append(f"{where[0]} subject {where[1]}: {name}: {text}")
        self.subjects[name].add(where)


def _walk(a: Any, b: Any, where: tuple[str, str], name: str, out: Differences) -> None:
    numeric = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        if a != b:
            out.shape(where, name, f"{a!r} ≠ {b!r}")
    elif isinstance(a, numeric) and isinstance(b, numeric):
        out.number(where, name, float(a), float(b))
    elif isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            child = f"{name}.{key}" if name else key
            if key not in a or key not in b:
                out.shape(where, child, "only in " + ("A" if key in a else "B"))
            else:
                _walk(a[key], b[key], where, child, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.shape(where, name, f"{len(a)} entries in A, {len(b)} in B")
        for x, y in zip(a, b, strict=False):
            _walk(x, y, where, name, out)
    elif a != b:
        out.shape(where, name, f"{a!r} ≠ {b!r}")


def compare(a: dict[str, Any], b: dict[str, Any]) -> Differences:
    """Every difference between two dumps (``{method: {subject_id: aggregate}}``)."""
    out = Differences()
    for method in sorted(set(a) | set(b)):
        if method not in a or method not in b:
            out.structural.append(f"method {method} only in {'A' if method in a else 'B'}")
            continue
        for subject in sorted(set(a[method]) | set(b[method]), key=int):
            where = (method, subject)
            if subject not in a[method] or subject not in b[method]:
                out.shape(where, "subject", "only in " + ("A" if subject in a[method] else "B"))
                continue
            _walk(a[method][subject], b[method][subject], where, "", out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args()
    a, b = (json.loads(path.read_text()) for path in (args.a, args.b))
    counts = ", ".join(f"{method} {len(subjects)}" for method, subjects in sorted(a.items()))
    found = compare(a, b)
    if not found.subjects and not found.structural:
        print(f"identical: {args.a} and {args.b} ({counts} subjects)")
        return
    differing = sorted({w for ws in found.subjects.values() for w in ws})
    print(f"DIFFERENT: {args.a} and {args.b} ({counts} subjects)")
    for method in sorted({m for m, _ in differing}):
        ids = [s for m, s in differing if m == method]
        print(f"  {method}: {len(ids)} subjects differ: {', '.join(ids)}")
    if found.largest:
        print("  largest absolute difference per field:")
        for name in sorted(found.largest):
            ids = sorted(found.subjects[name], key=lambda w: (w[0], int(w[1])))
            listed = ", ".join(f"{m[0]}:{s}" for m, s in ids[:8])
            more = f" … {len(ids) - 8} more" if len(ids) > 8 else ""
            print(f"    {name:<32} {found.largest[name]:.3g}  ({listed}{more})")
    if found.structural:
        print("  structural differences:")
        for line in found.structural[:40]:
            print(f"    {line}")
        if len(found.structural) > 40:
            print(f"    … {len(found.structural) - 40} more")
    sys.exit(1)


if __name__ == "__main__":
    main()
