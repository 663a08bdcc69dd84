//! Kubernetes-shaped conditions that keep their `lastTransitionTime` while their status
//! stays the same, so that a reconcile which learns nothing new produces an identical status
//! (and therefore writes nothing).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Which turn of a condition is a Warning Event rather than a Normal one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warns {
    /// Most conditions (`Ready`, `BrokerReady`, …): turning False is the problem.
    WhenFalse,
    /// Conditions that name a problem (`FailingOver`, `BudgetExhausted`): turning True is.
    WhenTrue,
    /// Neither turn is a fault (`UpgradePending`: the policy at work).
    Never,
}

/// One condition as computed by a reconcile, before its transition time is settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub type_: &'static str,
    pub status: bool,
    /// CamelCase, greppable.
    pub reason: &'static str,
    pub message: String,
    /// Which turn is published as a Warning.
    pub warns: Warns,
}

impl Observed {
    /// A condition whose turn to False is a Warning.
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
            warns: Warns::WhenFalse,
        }
    }

    /// The same condition with another polarity for its Events.
    pub fn warns(mut self, warns: Warns) -> Self {
        self.warns = warns;
        self
    }

    /// Whether its Event, now that it turned to `status`, is a Warning.
    pub fn is_warning(&self) -> bool {
        match self.warns {
            Warns::WhenFalse => !self.status,
            Warns::WhenTrue => self.status,
            Warns::Never => false,
        }
    }
}

fn status_word(status: bool) -> &'static str {
    if status { "True" } else { "False" }
}

/// Turns observed conditions into status conditions. A condition whose status is unchanged
/// from `previous` keeps its transition time; others get `now`. Conditions in `previous`
/// of types not observed here are kept as they are (another writer, such as the runtime,
/// owns them).
pub fn settle(
    previous: &[Condition],
    observed: &[Observed],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut settled: Vec<Condition> = observed
        .iter()
        .map(|o| {
            let status = status_word(o.status).to_string();
            let last_transition_time = previous
                .iter()
                .find(|p| p.type_ == o.type_ && p.status == status)
                .map(|p| p.last_transition_time.clone())
                .unwrap_or(Time(now));
            Condition {
                type_: o.type_.to_string(),
                status,
                reason: o.reason.to_string(),
                message: o.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect();
    for kept in previous
        .iter()
        .filter(|p| !observed.iter().any(|o| o.type_ == p.type_))
    {
        settled.push(kept.clone());
    }
    settled.sort_by(|a, b| a.type_.cmp(&b.type_));
    settled
}

/// The conditions among `observed` whose status differs from `previous` (or are new): the
/// transitions an Event is published for.
pub fn transitions<'a>(previous: &[Condition], observed: &'a [Observed]) -> Vec<&'a Observed> {
    observed
        .iter()
        .filter(|o| {
            !previous.iter().any(|p| {
                p.type_ == o.type_ && p.status == status_word(o.status) && p.reason == o.reason
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn an_unchanged_status_keeps_its_transition_time_and_a_change_takes_now() {
        let first = settle(
            &[],
            &[Observed::new("Ready", false, "Pending", "waiting")],
            Some(1),
            at(100),
        );
        assert_eq!(first[0].last_transition_time, Time(at(100)));

        let again = settle(
            &first,
            &[Observed::new("Ready", false, "Pending", "still waiting")],
            Some(2),
            at(200),
        );
        assert_eq!(again[0].last_transition_time, Time(at(100)));
        assert_eq!(again[0].observed_generation, Some(2));
        assert_eq!(again[0].message, "still waiting");

        let flipped = settle(
            &again,
            &[Observed::new("Ready", true, "Ready", "ok")],
            Some(2),
            at(300),
        );
        assert_eq!(flipped[0].last_transition_time, Time(at(300)));
        assert_eq!(flipped[0].status, "True");
    }

    #[test]
    fn conditions_owned_by_others_survive_and_the_list_is_sorted_by_type() {
        let runtime_owned = settle(
            &[],
            &[Observed::new("Trading", true, "Cycling", "")],
            None,
            at(1),
        );
        let settled = settle(
            &runtime_owned,
            &[Observed::new("Ready", true, "Ready", "")],
            Some(1),
            at(2),
        );
        let types: Vec<&str> = settled.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready", "Trading"]);
    }

    #[test]
    fn transitions_are_new_conditions_and_changed_statuses_or_reasons() {
        let previous = settle(
            &[],
            &[Observed::new("Ready", false, "Pending", "")],
            None,
            at(1),
        );
        let same = [Observed::new("Ready", false, "Pending", "new message")];
        assert!(transitions(&previous, &same).is_empty());
        let reason_changed = [Observed::new("Ready", false, "BrokerAccountNotFound", "")];
        assert_eq!(transitions(&previous, &reason_changed).len(), 1);
        let added = [Observed::new("Stalled", true, "X", "")];
        assert_eq!(transitions(&previous, &added).len(), 1);
    }
}

#[cfg(test)]
mod polarity_tests {
    use super::*;

    #[test]
    fn a_condition_naming_a_problem_warns_when_it_turns_true() {
        assert!(Observed::new("Ready", false, "R", "").is_warning());
        assert!(!Observed::new("Ready", true, "R", "").is_warning());
        let failing = |status| Observed::new("FailingOver", status, "R", "").warns(Warns::WhenTrue);
        assert!(failing(true).is_warning());
        assert!(!failing(false).is_warning());
        let pending = |status| Observed::new("UpgradePending", status, "R", "").warns(Warns::Never);
        assert!(!pending(true).is_warning() && !pending(false).is_warning());
    }
}
