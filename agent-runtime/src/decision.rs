//! The portfolio manager: weighs the analysts' reports into one [`Decision`] per symbol.
//!
//! Pure and deterministic, so a replay gives the same decisions and the rules can be tested
//! case by case. The weighing, in order:
//!
//! 1. Each directional report counts `weight × confidence` toward its side (the weight is its
//!    seat's `AnalystConfig.weight`; unknown seats weigh 1). Reports with zero confidence
//!    abstain. `agreement` = net weighted direction / total weighted confidence (−1..1).
//! 2. `strength` = the mean confidence of the reports on the winning side (weighted).
//! 3. Volatility reports (source `quant:volatility`) do not vote: their confidence (calmness)
//!    scales conviction by `0.5 + 0.5 × calm`, so turbulence halves position size at most.
//! 4. A debate verdict, when given, is half of the final agreement and strength.
//! 5. `confidence = |agreement| × strength × volatility scale`; below `minConfidence` → hold.
//!
//! Sizing is long-only: bullish targets `targetPositionFraction × equity × confidence / price`
//! units (rounded down to the symbol's lot), bought only when the position is more than
//! [`REBALANCE_BAND`] short of it, so small wobbles in confidence do not churn orders;
//! bearish closes the position. Trimming on weaker bullish conviction is left to the risk
//! limits and the stop loss.

use crate::agents::quant::VOLATILITY_SOURCE;
use crate::config::{AnalystConfig, DecisionConfig};
use crate::domain::{Action, AnalystReport, Decision, Signal, same_name};

/// A bullish target is bought only when the position is below `target × (1 − band)`.
pub const REBALANCE_BAND: f64 = 0.2;

/// Share of the final score given to the debate verdict when there is one.
pub const DEBATE_SHARE: f64 = 0.5;

/// What the decision needs to know about the account and the symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionInput<'a> {
    pub symbol: &'a str,
    pub price: f64,
    pub equity: f64,
    /// Units held now.
    pub position_quantity: f64,
    pub reports: &'a [AnalystReport],
    /// The bull/bear debate's conclusion, as a report (role `debate`), when debate ran.
    pub debate: Option<&'a AnalystReport>,
}

/// The portfolio manager, configured once per process.
#[derive(Clone, Debug)]
pub struct PortfolioManager {
    config: DecisionConfig,
    /// Each seat's (role, weight) in config order. A list: a strategy has a handful of
    /// seats, and the report at a seat's position is nearly always that seat's, so its role
    /// is compared once rather than hashed. The weight is the one the role's last seat gives
    /// (as a map built from the list would have it), so whichever seat of a role is found
    /// answers for the role.
    weights: Vec<(String, f64)>,
    /// Whether decisions carry their rationale (see [`quiet`](Self::quiet)).
    explain: bool,
}

impl PortfolioManager {
    pub fn new(config: &DecisionConfig, analysts: &[AnalystConfig]) -> Self {
        Self {
            config: config.clone(),
            weights: seat_weights(analysts),
            explain: true,
        }
    }

    /// A manager whose decisions carry no rationale: for a runner whose journal keeps no
    /// decisions (a backtest's), which would format one per symbol and bar and drop it. The
    /// actions, quantities and confidences are the same.
    pub fn quiet(mut self) -> Self {
        self.explain = false;
        self
    }

    pub fn decide(&self, input: &DecisionInput<'_>) -> Decision {
        let mut reports = input.reports.to_vec();
        reports.extend(input.debate.cloned());
        self.judge(input)
            .into_decision(input.symbol.to_string(), reports)
    }

    /// The decision without its reports, for a caller that owns them and is done with them:
    /// [`Verdict::into_decision`] moves them in rather than copying them.
    pub fn judge(&self, input: &DecisionInput<'_>) -> Verdict {
        if self.explain {
            return self.judge_explained(input);
        }
        let view = self.weigh(input.reports, input.debate, &mut ());
        let (action, target_quantity, _) = self.size(input, &view);
        Verdict {
            action,
            target_quantity,
            confidence: view.confidence,
            rationale: String::new(),
        }
    }

    /// [`judge`](Self::judge) with the rationale written out: the same weighing, noting each
    /// vote on the way.
    #[inline(never)]
    fn judge_explained(&self, input: &DecisionInput<'_>) -> Verdict {
        let mut votes = Vec::new();
        let view = self.weigh(input.reports, input.debate, &mut votes);
        let (action, target_quantity, why) = self.size(input, &view);
        let summary = format!(
            "{} {:.2} ({}; volatility ×{:.2})",
            view.signal.as_str(),
            view.confidence,
            votes.join(", "),
            view.scale,
        );
        Verdict {
            action,
            target_quantity,
            confidence: view.confidence,
            rationale: format!("{summary}: {why}"),
        }
    }

    /// The reports (and the debate's conclusion) weighed into one view, each vote noted in
    /// `votes`. Generic over the notes so that a quiet manager's weighing carries no trace of
    /// them, not even a check per report.
    fn weigh(
        &self,
        reports: &[AnalystReport],
        debate: Option<&AnalystReport>,
        votes: &mut impl Votes,
    ) -> View {
        let mut net = 0.0;
        let mut spoken = 0.0;
        let mut sides = [(0.0_f64, 0.0_f64); 2]; // (Σ w·c, Σ w) for bullish, bearish
        // Σ and count of the volatility reports' calm.
        let mut calm = (0.0_f64, 0_usize);
        for (position, report) in reports.iter().enumerate() {
            let confidence = sanitize(report.confidence);
            if same_name(&report.source, VOLATILITY_SOURCE) {
                calm.0 += confidence;
                calm.1 += 1;
                continue;
            }
            let weight = self.weight_of(position, &report.role);
            votes.vote(&report.role, report.signal, confidence);
            net += weight * confidence * report.signal.direction();
            spoken += weight * confidence;
            match report.signal {
                Signal::Bullish => add(&mut sides[0], weight, confidence),
                Signal::Bearish => add(&mut sides[1], weight, confidence),
                Signal::Neutral => {}
            }
        }
        let mut agreement = if spoken > 0.0 { net / spoken } else { 0.0 };
        let side = if agreement > 0.0 { 0 } else { 1 };
        let (sum_wc, sum_w) = sides[side];
        let mut strength = if sum_w > 0.0 { sum_wc / sum_w } else { 0.0 };
        if let Some(debate) = debate {
            let confidence = sanitize(debate.confidence);
            agreement = (1.0 - DEBATE_SHARE) * agreement + DEBATE_SHARE * debate.signal.direction();
            strength = (1.0 - DEBATE_SHARE) * strength + DEBATE_SHARE * confidence;
            votes.debate(debate.signal, confidence);
        }
        let scale = if calm.1 == 0 {
            1.0
        } else {
            0.5 + 0.5 * calm.0 / calm.1 as f64
        };
        let confidence = (agreement.abs() * strength * scale).clamp(0.0, 1.0);
        let signal = if agreement > 0.0 && confidence > 0.0 {
            Signal::Bullish
        } else if agreement < 0.0 && confidence > 0.0 {
            Signal::Bearish
        } else {
            Signal::Neutral
        };
        View {
            signal,
            confidence,
            scale,
        }
    }

    /// The weight of the report at `position` among the reports, from a seat seated as
    /// `role` (unknown seats weigh 1). The seats report in config order, so the seat at the
    /// same position is asked first and the others only when it is not the one.
    #[inline]
    fn weight_of(&self, position: usize, role: &str) -> f64 {
        match self.weights.get(position) {
            Some((seat, weight)) if same_name(seat, role) => *weight,
            _ => self.weight_elsewhere(role),
        }
    }

    /// [`weight_of`](Self::weight_of) for a report not at its seat's position.
    #[cold]
    fn weight_elsewhere(&self, role: &str) -> f64 {
        self.weights
            .iter()
            .find(|(seat, _)| same_name(seat, role))
            .map_or(1.0, |(_, weight)| *weight)
    }

    #[inline(always)]
    fn size(&self, input: &DecisionInput<'_>, view: &View) -> (Action, f64, Sizing) {
        let held = input.position_quantity;
        let hold = |why: Sizing| (Action::Hold, held, why);
        if !(input.price.is_finite() && input.price > 0.0) {
            return hold(Sizing::NoPrice(input.price));
        }
        if view.signal == Signal::Neutral || view.confidence < self.config.min_confidence {
            return hold(Sizing::BelowMinimum(self.config.min_confidence));
        }
        match view.signal {
            Signal::Bearish if held > 0.0 => (Action::Sell, 0.0, Sizing::Close(held)),
            Signal::Bearish => hold(Sizing::NothingToSell),
            _ => {
                let notional =
                    self.config.target_position_fraction * input.equity.max(0.0) * view.confidence;
                let target = round_down_to_lot(notional / input.price, lot_size(input.symbol));
                if target <= 0.0 {
                    hold(Sizing::BelowLot)
                } else if held >= target * (1.0 - REBALANCE_BAND) {
                    hold(Sizing::NearTarget { held, target })
                } else {
                    (Action::Buy, target, Sizing::Buy { held, target })
                }
            }
        }
    }
}

/// Why the sizing came out as it did, written out only for a decision that is explained.
enum Sizing {
    NoPrice(f64),
    BelowMinimum(f64),
    Close(f64),
    NothingToSell,
    BelowLot,
    NearTarget { held: f64, target: f64 },
    Buy { held: f64, target: f64 },
}

impl std::fmt::Display for Sizing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoPrice(price) => write!(f, "hold: no usable price ({price})"),
            Self::BelowMinimum(min) => write!(f, "hold: below minimum confidence {min:.2}"),
            Self::Close(held) => write!(f, "sell: close {held} units"),
            Self::NothingToSell => f.write_str("hold: bearish but nothing to sell (long only)"),
            Self::BelowLot => f.write_str("hold: target below one lot"),
            Self::NearTarget { held, target } => {
                write!(f, "hold: {held} units already near target {target}")
            }
            Self::Buy { held, target } => write!(f, "buy: to {target} units from {held}"),
        }
    }
}

/// A [`Decision`] before its reports join it.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub action: Action,
    pub target_quantity: f64,
    pub confidence: f64,
    pub rationale: String,
}

impl Verdict {
    /// The decision for `symbol` from the `reports` it was judged on (the debate's last).
    pub fn into_decision(self, symbol: String, reports: Vec<AnalystReport>) -> Decision {
        Decision {
            symbol,
            action: self.action,
            target_quantity: self.target_quantity,
            confidence: self.confidence,
            rationale: self.rationale,
            reports,
        }
    }
}

struct View {
    signal: Signal,
    confidence: f64,
    /// What the volatility reports scaled conviction by.
    scale: f64,
}

/// Where [`PortfolioManager::weigh`] notes each vote it counts, for a rationale.
trait Votes {
    /// A seat's report.
    fn vote(&mut self, role: &str, signal: Signal, confidence: f64);
    /// The debate's conclusion.
    fn debate(&mut self, signal: Signal, confidence: f64);
}

/// A quiet manager's: nowhere.
impl Votes for () {
    #[inline]
    fn vote(&mut self, _role: &str, _signal: Signal, _confidence: f64) {}

    #[inline]
    fn debate(&mut self, _signal: Signal, _confidence: f64) {}
}

/// An explained decision's: each vote as the rationale lists it.
impl Votes for Vec<String> {
    fn vote(&mut self, role: &str, signal: Signal, confidence: f64) {
        self.push(format!("{role} {} {confidence:.2}", signal.as_str()).to_lowercase());
    }

    fn debate(&mut self, signal: Signal, confidence: f64) {
        self.push(format!("debate {} {confidence:.2}", signal.as_str()));
    }
}

/// Each seat's (role, weight) in config order, the weight being the last one given for the
/// role: a role seated twice weighs what its last seat says, wherever it is found. A
/// negative weight counts as 0, so the weighing takes the weights as they are.
fn seat_weights(analysts: &[AnalystConfig]) -> Vec<(String, f64)> {
    analysts
        .iter()
        .map(|seat| {
            let last = analysts
                .iter()
                .rev()
                .find(|other| other.role == seat.role)
                .map_or(seat.weight, |other| other.weight);
            (seat.role.clone(), last.max(0.0))
        })
        .collect()
}

fn add(side: &mut (f64, f64), weight: f64, confidence: f64) {
    side.0 += weight * confidence;
    side.1 += weight;
}

fn sanitize(confidence: f64) -> f64 {
    if confidence.is_finite() {
        confidence.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Smallest tradable quantity: crypto pairs (`BTC/USD`) trade in fractions, stocks in shares.
pub fn lot_size(symbol: &str) -> f64 {
    if symbol.contains('/') { 0.0001 } else { 1.0 }
}

/// Rounds down to a multiple of `lot`, tolerating floating-point dust just below a multiple.
pub fn round_down_to_lot(quantity: f64, lot: f64) -> f64 {
    if !(quantity.is_finite() && quantity > 0.0 && lot > 0.0) {
        return 0.0;
    }
    let lots = (quantity / lot + 1e-9).floor();
    if lot == 1.0 {
        // Whole units (every stock): `lots` is already what the rounding below gives back,
        // without its logarithm and power.
        return lots;
    }
    // Multiplying back can reintroduce dust (3 × 0.0001); round to the lot's decimals.
    let decimals = (-lot.log10()).ceil().max(0.0) as i32;
    let scale = 10f64.powi(decimals);
    (lots * lot * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::{PortfolioManager, round_down_to_lot};
    use crate::config::{AnalystConfig, AnalystKind, DecisionConfig, QuantMethod};

    fn seat(role: &str, weight: f64) -> AnalystConfig {
        AnalystConfig {
            role: role.into(),
            kind: AnalystKind::Quant {
                method: QuantMethod::Trend,
                params: Default::default(),
            },
            weight,
        }
    }

    /// A report's weight is its role's, wherever the report stands: at its seat's position,
    /// elsewhere (a pooled seat's report comes after the in-process ones), for a role seated
    /// twice (the last seat's weight, as a map built from the list gave), for an unknown
    /// role (1), and never below 0.
    #[test]
    fn a_reports_weight_is_its_roles_wherever_it_stands() {
        let config = DecisionConfig {
            debate_rounds: 0,
            min_confidence: 0.3,
            target_position_fraction: 0.5,
        };
        let seats = [
            seat("trend", 2.0),
            seat("momentum", 0.5),
            seat("trend", 3.0),
            seat("negative", -1.0),
        ];
        let manager = PortfolioManager::new(&config, &seats);
        for position in 0..6 {
            assert_eq!(manager.weight_of(position, "trend"), 3.0, "at {position}");
            assert_eq!(
                manager.weight_of(position, "momentum"),
                0.5,
                "at {position}"
            );
            assert_eq!(
                manager.weight_of(position, "negative"),
                0.0,
                "at {position}"
            );
            assert_eq!(manager.weight_of(position, "unknown"), 1.0, "at {position}");
        }
    }

    /// The rounding as written before whole units skipped it.
    fn rounded_the_long_way(quantity: f64, lot: f64) -> f64 {
        let lots = (quantity / lot + 1e-9).floor();
        let decimals = (-lot.log10()).ceil().max(0.0) as i32;
        let scale = 10f64.powi(decimals);
        (lots * lot * scale).round() / scale
    }

    #[test]
    fn whole_units_round_as_the_long_way_does() {
        let quantities = (1..20_000).map(|i| f64::from(i) * 0.37 + 1e-10 * f64::from(i % 7));
        for quantity in quantities.chain([0.999_999_999_5, 1.0, 7.0 - 1e-10, 1e15 + 0.5]) {
            assert_eq!(
                round_down_to_lot(quantity, 1.0).to_bits(),
                rounded_the_long_way(quantity, 1.0).to_bits(),
                "{quantity}"
            );
        }
    }
}
