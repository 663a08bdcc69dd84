//! What an analyst sees of one symbol at decision time: the input of every analyst, of the
//! debate and of the cycle's ports, so it lives with the other domain types.

use std::ops::{Deref, DerefMut};

use super::{Bar, Position};

/// What an analyst sees of one symbol at decision time.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub symbol: String,
    /// Oldest first; the last bar is the latest price.
    pub bars: BarWindow,
    /// The strategy's current position in the symbol, if any.
    pub position: Option<Position>,
}

impl Snapshot {
    /// Close of the latest bar.
    pub fn last_price(&self) -> Option<f64> {
        self.bars.last().map(|bar| bar.close)
    }
}

/// The latest bars of one symbol, oldest first, read as a slice.
///
/// A cycle's window moves forward by a bar or two while it keeps tens of them. Copying the
/// whole window each cycle costs more than everything else a backtest does per bar, so the
/// window slides instead: a new bar is appended, the oldest is only marked gone, and once the
/// gone ones are `GONE_RUNS` times as many as the window holds the live ones move to the
/// front in one swap — each bar is moved at most a third of a time more, however long the
/// run. The gone bars are kept after
/// the live ones and written over by the next bars copied in, so their buffers (the symbol's
/// string) are reused rather than freed and allocated again.
#[derive(Clone, Debug, Default)]
pub struct BarWindow {
    buffer: Vec<Bar>,
    /// Bars before this index have left the window.
    start: usize,
    /// Bars from this index on are spares: gone, kept for their buffers.
    end: usize,
}

impl Deref for BarWindow {
    type Target = [Bar];

    fn deref(&self) -> &[Bar] {
        &self.buffer[self.start..self.end]
    }
}

impl DerefMut for BarWindow {
    fn deref_mut(&mut self) -> &mut [Bar] {
        &mut self.buffer[self.start..self.end]
    }
}

impl PartialEq for BarWindow {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl From<Vec<Bar>> for BarWindow {
    fn from(buffer: Vec<Bar>) -> Self {
        let end = buffer.len();
        Self {
            buffer,
            start: 0,
            end,
        }
    }
}

impl FromIterator<Bar> for BarWindow {
    fn from_iter<I: IntoIterator<Item = Bar>>(bars: I) -> Self {
        Vec::from_iter(bars).into()
    }
}

impl BarWindow {
    /// Empties the window; its bars stay as spares.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Appends `bar`, the oldest bar leaving when the window already holds `limit`.
    pub fn push(&mut self, bar: Bar, limit: usize) {
        self.make_room(limit);
        match self.buffer.get_mut(self.end) {
            Some(spare) => *spare = bar,
            None => self.buffer.push(bar),
        }
        self.end += 1;
    }

    /// [`push`](Self::push) of a copy of `bar`, written over a spare when there is one.
    #[inline]
    fn push_copy(&mut self, bar: &Bar, limit: usize) {
        self.make_room(limit);
        match self.buffer.get_mut(self.end) {
            Some(spare) => overwrite(spare, bar),
            None => self.buffer.push(bar.clone()),
        }
        self.end += 1;
    }

    /// Marks the oldest bar gone when one more would exceed `limit`, and moves the live bars
    /// to the front once the gone ones are `GONE_RUNS` windows' worth. Then the live bars
    /// and as many gone ones before them do not overlap, and trading places is one swap of
    /// two runs (a general rotation cost several times more).
    #[inline]
    fn make_room(&mut self, limit: usize) {
        let limit = limit.max(1);
        // The live bars counted from the bounds, not the slice (which checks them).
        self.start += (self.end - self.start + 1).saturating_sub(limit);
        if self.start >= GONE_RUNS * limit {
            let live = self.end - self.start;
            match self.buffer.split_at_mut(self.start) {
                // Always so: at most `limit - 1` bars are live here.
                (gone, rest) if gone.len() >= live => {
                    gone[..live].swap_with_slice(&mut rest[..live]);
                }
                _ => self.buffer[..self.end].rotate_left(self.start),
            }
            self.end = live;
            self.start = 0;
        }
    }

    /// Makes the window the last `limit` bars of `front` followed by `back` (a ring's two
    /// halves, oldest first). When the window already ends with a bar of theirs and holds
    /// all it can of what comes before, only the bars after it are copied; otherwise the
    /// window is rebuilt from them.
    pub fn follow(&mut self, front: &[Bar], back: &[Bar], limit: usize) {
        if self.follow_one(front, back, limit) {
            return;
        }
        let total = front.len() + back.len();
        let unseen = self.unseen_in(front, back);
        // Everything before the window's last bar that fits must be in the window already.
        match unseen {
            Some(unseen) if self.len() >= limit.min(total - unseen) => {
                // The unseen bars end the run: the last of `front` (if any) then of `back`.
                let from_back = unseen.min(back.len());
                let from_front = unseen - from_back;
                for bar in front[front.len() - from_front..]
                    .iter()
                    .chain(&back[back.len() - from_back..])
                {
                    self.push_copy(bar, limit);
                }
                // The last `limit` bars, or all of them when they are fewer.
                self.start += self.len().saturating_sub(limit.min(total));
            }
            _ => {
                self.clear();
                let skip = total.saturating_sub(limit);
                for bar in front.iter().chain(back).skip(skip) {
                    self.push_copy(bar, limit);
                }
            }
        }
    }

    /// [`follow`](Self::follow) in the usual case, a cycle a bar: the run's newest bar is
    /// the only one after the window's last, and the window holds all it can of the rest.
    /// Appends it and says so; anything else is left to the general way, which would do
    /// the same here (it finds one unseen bar and copies it) with more looking.
    #[inline]
    fn follow_one(&mut self, front: &[Bar], back: &[Bar], limit: usize) -> bool {
        let (before, newest) = match (front, back) {
            (_, [.., before, newest]) | ([.., before], [newest]) | ([.., before, newest], []) => {
                (before, newest)
            }
            _ => return false,
        };
        let last = match self.end.checked_sub(1) {
            Some(i) if i >= self.start => self.buffer.get(i),
            _ => None,
        };
        let Some(last) = last else {
            return false;
        };
        let held = self.end - self.start;
        let total = front.len() + back.len();
        if before.time != last.time || newest.time <= last.time || held < limit.min(total - 1) {
            return false;
        }
        self.push_copy(newest, limit);
        // The last `limit` bars, or all of them when they are fewer.
        self.start += (self.end - self.start).saturating_sub(limit.min(total));
        true
    }

    /// How many bars of `front` then `back` come after the window's last bar, when that bar
    /// is one of theirs (same time); `None` when it is not, or the window is empty.
    fn unseen_in(&self, front: &[Bar], back: &[Bar]) -> Option<usize> {
        let last = self.last()?.time;
        // The halves are one sorted run, so the bars after `last` are a suffix of it. A
        // window that keeps up with its source is a bar or two behind, so the suffix is
        // looked for from the newest bar back: a comparison or two, not a search of the run.
        let (unseen, at) = match back.iter().rposition(|bar| bar.time <= last) {
            Some(i) => (back.len() - 1 - i, &back[i]),
            None => {
                let i = front.iter().rposition(|bar| bar.time <= last)?;
                (back.len() + front.len() - 1 - i, &front[i])
            }
        };
        (at.time == last).then_some(unseen)
    }
}

/// How many windows' worth of gone bars a [`BarWindow`] keeps before moving its live bars
/// to the front: the more, the rarer the move (each bar moves `1 / GONE_RUNS` of a time on
/// average) and the larger the buffer (`GONE_RUNS + 1` windows at most). A backtest moves
/// a window every bar, so a third of the moves is worth a few windows of bars.
const GONE_RUNS: usize = 3;

/// Writes `from` over `into`, the symbol only when it differs: a window (or a feed's ring)
/// holds one symbol's bars, so the bar written over nearly always has it already, and
/// comparing it costs less than copying it.
fn overwrite(into: &mut Bar, from: &Bar) {
    if into.symbol != from.symbol {
        into.symbol.clone_from(&from.symbol);
    }
    into.copy_values_from(from);
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    fn bar(day: i64) -> Bar {
        Bar {
            symbol: "SPY".into(),
            time: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::days(day),
            open: day as f64,
            high: day as f64,
            low: day as f64,
            close: day as f64,
            volume: 0.0,
        }
    }

    fn last_of(ring: &VecDeque<Bar>, limit: usize) -> Vec<Bar> {
        ring.iter()
            .skip(ring.len().saturating_sub(limit))
            .cloned()
            .collect()
    }

    #[test]
    fn following_a_ring_gives_its_latest_bars_and_keeps_the_buffer_bounded() {
        for (ring_size, limit, step) in [(5, 5, 1), (8, 5, 1), (5, 8, 2), (30, 30, 3), (3, 1, 1)] {
            let mut ring = VecDeque::with_capacity(ring_size);
            let mut window = BarWindow::default();
            for day in 0..200 {
                if ring.len() == ring_size {
                    ring.pop_front();
                }
                ring.push_back(bar(day));
                if day % step != 0 {
                    continue;
                }
                let (front, back) = ring.as_slices();
                window.follow(front, back, limit);
                assert_eq!(
                    *window,
                    *last_of(&ring, limit),
                    "ring {ring_size} limit {limit} day {day}"
                );
                assert!(
                    window.buffer.len() <= (GONE_RUNS + 1) * limit + step as usize,
                    "{}",
                    window.buffer.len()
                );
            }
        }
    }

    #[test]
    fn a_source_that_does_not_continue_the_window_replaces_it() {
        let mut window: BarWindow = (10..15).map(bar).collect();
        let earlier: Vec<Bar> = (0..4).map(bar).collect();
        window.follow(&earlier, &[], 3);
        assert_eq!(*window, earlier[1..]);
        // A bar the window does not hold (day 2.5 does not exist in it) at the same place.
        let mut odd = bar(3);
        odd.time += Duration::hours(1);
        let other = vec![bar(1), bar(2), odd, bar(4)];
        window.follow(&other, &[], 3);
        assert_eq!(*window, other[1..]);
    }

    #[test]
    fn a_short_window_is_filled_from_the_bars_before_its_last() {
        let mut window: BarWindow = vec![bar(4)].into();
        let source: Vec<Bar> = (0..6).map(bar).collect();
        window.follow(&source, &[], 4);
        assert_eq!(*window, source[2..]);
    }

    #[test]
    fn push_drops_the_oldest_at_the_limit() {
        let mut window = BarWindow::default();
        for day in 0..10 {
            window.push(bar(day), 3);
        }
        assert_eq!(*window, (7..10).map(bar).collect::<Vec<_>>());
        assert!(window.buffer.len() <= (GONE_RUNS + 1) * 3);
    }
}
