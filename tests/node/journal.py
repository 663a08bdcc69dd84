#!/usr/bin/env python3
"""Prints a strategy's first trade from its SQLite journal, for the real-node demo:

  journal.py JOURNAL_DB STRATEGY

the cycle's decision for the symbol it traded, with each analyst's signal, confidence and
rationale, then the order and its fill. Read-only; exits non-zero when no order is there.
"""
import json, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
order = db.execute("select cycle_id, symbol, side, quantity, client_order_id from orders order by created_at limit 1").fetchone()
if order is None:
    sys.exit(f"{sys.argv[2]}: no order in the journal")
cycle, symbol, side, quantity, client_id = order
print(f"--- {sys.argv[2]}, cycle {cycle}, {symbol}")
action, confidence, rationale, reports = db.execute(
    "select action, confidence, rationale, reports from decisions where cycle_id = ? and symbol = ?",
    (cycle, symbol)).fetchone()
for report in json.loads(reports):
    print(f"  analyst {report['role']:<15} {report['signal']:<8} {report['confidence']:.2f}  {report['rationale']}")
print(f"  decision {action} ({confidence:.2f}): {rationale}")
print(f"  order    {side} {quantity:g} {symbol} ({client_id})")
for price, qty, commission in db.execute(
        "select price, quantity, commission from fills where client_order_id = ?", (client_id,)):
    print(f"  fill     {qty:g} @ {price:.2f}, commission {commission:.2f}")
