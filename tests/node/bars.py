#!/usr/bin/env python3
"""Daily bars for the real-node backtest checks, the same every time (no random module, no clock):

  tests/node/bars.py COUNT > AAPL.csv

One bar a calendar day from 2000-01-01, in the runtime's CSV layout (docs/backtest.md). The
close is a slow rise times a 60-day swing times a random walk driven by a fixed linear
congruential generator, so moving averages of every period the sweeps use cross many times
and different periods trade differently. High and low bracket open and close, as the
runtime's CSV check requires.
"""
import datetime
import math
import sys


def bars(count):
    seed = 20240607
    walk = 1.0
    day = datetime.date(2000, 1, 1)
    previous = None
    for i in range(count):
        seed = (seed * 1103515245 + 12345) % 2**31
        walk *= 1.0 + (seed / 2**31 - 0.5) * 0.03
        close = 100.0 * math.exp(0.0002 * i) * (1.0 + 0.12 * math.sin(2 * math.pi * i / 60)) * walk
        open_ = previous if previous is not None else close
        high = max(open_, close) * 1.004
        low = min(open_, close) * 0.996
        yield f"{day + datetime.timedelta(days=i)},{open_:.2f},{high:.2f},{low:.2f},{close:.2f},{1000 + i % 500}"
        previous = close


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        sys.exit("usage: bars.py COUNT (a whole number of bars, at least 1)")
    print("date,open,high,low,close,volume")
    for line in bars(int(sys.argv[1])):
        print(line)


if __name__ == "__main__":
    main()
