#!/usr/bin/env python3
"""Writes the advisor benchmark's workload: pgbench scripts of two distinct statement shapes each.

Shapes combine predicates, projections, ordering and grouping over the generated shop
(customers 200k, orders 1.5M, products 20k, events 1M) so pg_stat_statements sees well over
200 distinct normalised statements. Values are drawn by pgbench (\\set), skewed like the data.
Usage: advisor_workload.py OUTDIR
"""
import itertools
import os
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

SETS = {
    "cid": r"\set cid random(1, 200000)",
    "st": r"\set st random_zipfian(1, 5, 1.5)",
    "ch": r"\set ch random(1, 8)",
    "rg": r"\set rg random(1, 50)",
    "day": r"\set day random(1, 700)",
    "amt": r"\set amt random(1, 990)",
    "pid": r"\set pid random(1, 20000)",
    "cat": r"\set cat random(1, 50)",
    "kind": r"\set kind random_zipfian(1, 30, 1.2)",
    "cty": r"\set cty random_zipfian(1, 20, 1.3)",
    "seg": r"\set seg random(1, 5)",
}

ORDER_PREDS = {
    "customer": ("o.customer_id = :cid", ["cid"]),
    "status": ("o.status = :st", ["st"]),
    "recent": ("o.created_at > timestamptz '2026-01-01' - :day * interval '1 day'", ["day"]),
    "total": ("o.total > :amt", ["amt"]),
    "channel": ("o.channel = :ch", ["ch"]),
    "region": ("o.region_id = :rg", ["rg"]),
    "product": ("o.product_id = :pid", ["pid"]),
}
ORDER_PROJ = ["o.id", "o.id, o.total", "count(*)", "sum(o.total)", "o.id, o.created_at, o.status"]

scripts = []

# single and paired predicates on orders, several projections
for n in (1, 2):
    for combo in itertools.combinations(sorted(ORDER_PREDS), n):
        # a pair of two unselective predicates only (e.g. status + channel) is a scan anyway
        where = " AND ".join(ORDER_PREDS[c][0] for c in combo)
        sets = sorted({s for c in combo for s in ORDER_PREDS[c][1]})
        for proj in ORDER_PROJ:
            agg = proj.startswith(("count", "sum"))
            tail = "" if agg else " ORDER BY o.created_at DESC LIMIT 20"
            scripts.append((sets, f"SELECT {proj} FROM orders o WHERE {where}{tail};"))

# three predicates, one of them the customer
for combo in itertools.combinations(sorted(set(ORDER_PREDS) - {"customer"}), 2):
    where = " AND ".join(["o.customer_id = :cid"] + [ORDER_PREDS[c][0] for c in combo])
    sets = sorted({"cid"} | {s for c in combo for s in ORDER_PREDS[c][1]})
    for proj in ORDER_PROJ[:3]:
        scripts.append((sets, f"SELECT {proj} FROM orders o WHERE {where};"))

# joins
for proj in ["c.country, count(*)", "c.segment, sum(o.total)", "count(*)"]:
    for pred, sets in [("c.country = :cty", ["cty"]), ("c.segment = :seg", ["seg"]),
                       ("o.created_at > timestamptz '2026-01-01' - :day * interval '1 day'", ["day"]),
                       ("c.id = :cid", ["cid"])]:
        scripts.append((sets, f"SELECT {proj} FROM orders o JOIN customers c ON c.id = o.customer_id "
                              f"WHERE {pred} GROUP BY 1;" if "," in proj else
                              f"SELECT {proj} FROM orders o JOIN customers c ON c.id = o.customer_id WHERE {pred};"))
for proj in ["p.category, count(*)", "count(*)", "sum(o.total)"]:
    for pred, sets in [("p.category = :cat", ["cat"]), ("p.id = :pid", ["pid"]),
                       ("p.brand = :cat", ["cat"])]:
        grp = " GROUP BY 1" if "," in proj else ""
        scripts.append((sets, f"SELECT {proj} FROM orders o JOIN products p ON p.id = o.product_id WHERE {pred}{grp};"))

# events
for proj in ["e.id", "count(*)", "e.kind, count(*)"]:
    for pred, sets in [("e.customer_id = :cid", ["cid"]), ("e.kind = :kind", ["kind"]),
                       ("e.customer_id = :cid AND e.kind = :kind", ["cid", "kind"]),
                       ("e.at > timestamptz '2026-01-01' - :day * interval '1 hour'", ["day"])]:
        grp = " GROUP BY 1" if "," in proj else ""
        lim = " LIMIT 50" if proj == "e.id" else ""
        scripts.append((sets, f"SELECT {proj} FROM events e WHERE {pred}{grp}{lim};"))

# customers and products
for proj in ["id", "id, country", "count(*)"]:
    for pred, sets in [("country = :cty", ["cty"]), ("segment = :seg AND country = :cty", ["seg", "cty"]),
                       ("score > :amt", ["amt"]), ("id = :cid", ["cid"])]:
        scripts.append((sets, f"SELECT {proj} FROM customers WHERE {pred};"))
for proj in ["id", "id, price", "count(*)"]:
    for pred, sets in [("category = :cat", ["cat"]), ("brand = :cat AND price < :amt", ["cat", "amt"])]:
        scripts.append((sets, f"SELECT {proj} FROM products WHERE {pred};"))

# writes: the advisor must weigh index maintenance
scripts.append((["cid", "amt"], "UPDATE customers SET score = :amt WHERE id = :cid;"))
scripts.append((["cid", "kind"], "INSERT INTO events (customer_id, kind, at) VALUES (:cid, :kind, now());"))
scripts.append((["cid", "ch"], "UPDATE orders SET channel = :ch WHERE id = :cid;"))

# pgbench takes at most 128 scripts: two statements per script
for i in range(0, len(scripts), 2):
    pair = scripts[i:i + 2]
    with open(os.path.join(out, f"q{i // 2:03d}.sql"), "w") as f:
        for s in sorted({s for sets, _ in pair for s in sets}):
            f.write(SETS[s] + "\n")
        for _, sql in pair:
            f.write(sql + "\n")
print(len(scripts))
