#!/usr/bin/python3
"""Compares two scheme files layer by layer: N of each, the iteration of each layer's
decisions, and the totals. Used for docs/results.md (precision fidelity).

    python3 scripts/compare_schemes.py A.json B.json [--names fp32 bf16]
"""
import argparse
import json


def decisions(scheme):
    out = {}
    for d in scheme["decisions"]:
        out.setdefault(d["layer"], []).append(f"{d['N']}@{d['iteration']}")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--names", nargs=2, default=["A", "B"])
    args = p.parse_args()
    a, b = (json.load(open(f)) for f in (args.a, args.b))
    da, db = decisions(a), decisions(b)
    la = {l["name"]: l for l in a["layers"]}
    na, nb = args.names
    print(f"| layer | N:M {na} | N:M {nb} | decisions {na} (N@iteration) | decisions {nb} |")
    print("|---|---|---|---|---|")
    differ = 0
    for l in b["layers"]:
        other = la[l["name"]]
        mark = "" if other["N"] == l["N"] else " **≠**"
        differ += other["N"] != l["N"]
        print(f"| {l['name']} | {other['N']}:{other['M']} | {l['N']}:{l['M']}{mark} | "
              f"{', '.join(da.get(l['name'], [])) or '–'} | {', '.join(db.get(l['name'], [])) or '–'} |")
    print()
    for name, s in ((na, a), (nb, b)):
        print(f"- {name}: param sparsity {s['param_sparsity']:.4f}, FLOPs reduction {s['flops_reduction']:.4f}, "
              f"{len(s['decisions'])} decisions, last at iteration {s['decisions'][-1]['iteration']}, "
              f"{s['run']['iterations']} iterations, {s['run']['seconds']:.0f} s")
    print(f"- layers whose N differs: {differ} of {len(b['layers'])}")


if __name__ == "__main__":
    main()
