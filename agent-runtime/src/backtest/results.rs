//! The run's results artifact, collected as the run goes with bounded memory: the equity
//! curve sampled to at most [`MAX_CURVE_POINTS`] points and the first [`MAX_FILLS`] fills
//! (the rest counted). The type is the contract's [`RunResults`], so the plugin and the
//! dashboard read what the runtime writes.

use chrono::{DateTime, Utc};
use tradeplane_contract::backtest_results::{
    EquityPoint, FillRecord, MAX_CURVE_POINTS, MAX_FILLS, RESULTS_VERSION, RunResults,
};

use crate::domain::{Fill, Side};

/// A deterministic sample of a sequence of unknown length, at most `cap` items: item *n* is
/// kept while *n* is a multiple of the stride, and the stride doubles (dropping every other
/// kept item) when the sample is full. The first item is always kept, and the last is added
/// at the end when the stride skipped it, so a plot spans the whole run.
#[derive(Clone, Debug)]
pub struct Sample<T> {
    cap: usize,
    every: u64,
    seen: u64,
    kept: Vec<(u64, T)>,
    last: Option<(u64, T)>,
}

impl<T: Clone> Sample<T> {
    /// `cap` is raised to 3: the first, the last and one between.
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(3),
            every: 1,
            seen: 0,
            kept: Vec::new(),
            last: None,
        }
    }

    pub fn push(&mut self, item: T) {
        let n = self.seen;
        self.seen += 1;
        if n.is_multiple_of(self.every) {
            // One place stays free for the last item.
            if self.kept.len() + 1 >= self.cap {
                self.every *= 2;
                let every = self.every;
                self.kept.retain(|(i, _)| i.is_multiple_of(every));
            }
            if n.is_multiple_of(self.every) {
                self.kept.push((n, item.clone()));
            }
        }
        self.last = Some((n, item));
    }

    /// Items pushed so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The stride the sample ended with.
    pub fn every(&self) -> u64 {
        self.every
    }

    /// The kept items in order, the last item included.
    pub fn items(&self) -> Vec<T> {
        let mut items: Vec<T> = self.kept.iter().map(|(_, item)| item.clone()).collect();
        if let Some((n, item)) = &self.last
            && self.kept.last().map(|(i, _)| i) != Some(n)
        {
            items.push(item.clone());
        }
        items
    }
}

/// The curve and the fills of one run.
#[derive(Clone, Debug)]
pub struct Collector {
    curve: Sample<EquityPoint>,
    fills: Vec<FillRecord>,
    fills_omitted: u64,
}

impl Default for Collector {
    fn default() -> Self {
        Self {
            curve: Sample::new(MAX_CURVE_POINTS),
            fills: Vec::new(),
            fills_omitted: 0,
        }
    }
}

impl Collector {
    pub fn equity(&mut self, time: DateTime<Utc>, equity: f64, buy_and_hold: f64) {
        self.curve.push(EquityPoint {
            time,
            equity,
            buy_and_hold,
        });
    }

    pub fn fill(&mut self, fill: &Fill) {
        if self.fills.len() >= MAX_FILLS {
            self.fills_omitted += 1;
            return;
        }
        self.fills.push(FillRecord {
            time: fill.time,
            symbol: fill.symbol.clone(),
            side: match fill.side {
                Side::Buy => "buy",
                Side::Sell => "sell",
            }
            .to_string(),
            quantity: fill.quantity,
            price: fill.price,
            commission: fill.commission,
        });
    }

    pub fn results(&self, starting_equity: f64, final_equity: f64, trades: u64) -> RunResults {
        RunResults {
            version: RESULTS_VERSION,
            starting_equity,
            final_equity,
            trades,
            equity_every: self.curve.every(),
            cycles: self.curve.seen(),
            equity: self.curve.items(),
            fills: self.fills.clone(),
            fills_omitted: self.fills_omitted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64, cap: usize) -> Sample<u64> {
        let mut sample = Sample::new(cap);
        (0..n).for_each(|i| sample.push(i));
        sample
    }

    #[test]
    fn a_short_run_is_kept_whole() {
        assert_eq!(sample(5, 10).items(), vec![0, 1, 2, 3, 4]);
        assert_eq!(sample(0, 10).items(), Vec::<u64>::new());
        assert_eq!(sample(1, 10).items(), vec![0]);
    }

    #[test]
    fn a_long_run_keeps_every_kth_item_and_always_the_first_and_last() {
        // cap 5: four places for the strided items, one for the last.
        let items = sample(10, 5).items();
        assert_eq!(items, vec![0, 4, 8, 9]);
        let items = sample(11, 5).items();
        assert_eq!(items, vec![0, 4, 8, 10]);
        let items = sample(17, 5).items();
        assert_eq!(items, vec![0, 8, 16]);
    }

    #[test]
    fn the_sample_stays_bounded_evenly_strided_and_deterministic() {
        for n in [999u64, 1000, 1001, 4096, 1_000_000] {
            let s = sample(n, 1000);
            let items = s.items();
            assert!(items.len() <= 1000, "{n}: {}", items.len());
            assert!(items.len() >= 250, "{n}: {}", items.len());
            assert_eq!(items[0], 0);
            assert_eq!(*items.last().unwrap(), n - 1);
            let every = s.every();
            let strided = &items[..items.len() - 1];
            assert!(
                strided
                    .windows(2)
                    .all(|w| w[1] - w[0] == every && w[0] % every == 0),
                "{n}"
            );
            assert_eq!(sample(n, 1000).items(), items);
        }
    }

    fn fill(i: u32) -> Fill {
        Fill {
            fill_id: format!("o{i}@1"),
            client_order_id: format!("c{i}"),
            symbol: "SPY".into(),
            side: if i.is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            },
            quantity: 1.0,
            price: 100.0 + f64::from(i),
            commission: 0.1,
            time: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn fills_beyond_the_cap_are_counted_not_kept() {
        let mut collector = Collector::default();
        for i in 0..(MAX_FILLS as u32 + 3) {
            collector.fill(&fill(i));
        }
        let results = collector.results(1000.0, 1000.0, 0);
        assert_eq!(results.fills.len(), MAX_FILLS);
        assert_eq!(results.fills_omitted, 3);
        assert_eq!(results.fills[1].side, "sell");
        assert_eq!(results.fills[1].price, 101.0);
    }
}
