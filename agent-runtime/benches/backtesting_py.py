"""The same moving-average crossover in backtesting.py, for `benches/backtest.rs`.

Usage: backtesting_py.py BARS.csv FAST SLOW CASH COMMISSION_FRACTION
Prints one JSON line: bars, seconds, bars_per_second, trades, final_equity.
backtesting.py fills market orders at the next bar's open (trade_on_close=False), the
engine's next-open fill model.
"""
import json
import sys
import time

import pandas as pd
from backtesting import Backtest, Strategy


def sma(values, n):
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    fast = 10
    slow = 30

    def init(self):
        self.ma_fast = self.I(sma, self.data.Close, self.fast)
        self.ma_slow = self.I(sma, self.data.Close, self.slow)

    def next(self):
        long = self.ma_fast[-1] > self.ma_slow[-1]
        if long and not self.position:
            self.buy(size=0.95)
        elif not long and self.position:
            self.position.close()


def main():
    path, fast, slow, cash, commission = sys.argv[1:6]
    data = pd.read_csv(path, index_col=0, parse_dates=True)
    data.columns = [c.capitalize() for c in data.columns]
    SmaCross.fast, SmaCross.slow = int(fast), int(slow)
    started = time.perf_counter()
    bt = Backtest(data, SmaCross, cash=float(cash), commission=float(commission),
                  finalize_trades=True)
    stats = bt.run()
    seconds = time.perf_counter() - started
    print(json.dumps({
        "bars": len(data),
        "seconds": seconds,
        "bars_per_second": len(data) / seconds,
        "trades": int(stats["# Trades"]),
        "final_equity": float(stats["Equity Final [$]"]),
    }))


if __name__ == "__main__":
    main()
