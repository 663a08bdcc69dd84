//! Shadow revisions (`spec.rollout.strategy: Shadow`): a new decision-relevant revision
//! decides on paper beside the live pods before it may trade.
//!
//! The steps, as for every child: [`revision`] says what a decision-relevant revision is;
//! [`gate`] decides whether the rendered revision rolls, waits for its shadow or was refused,
//! and what the status, conditions and Events say (pure); [`render`] builds the shadow's
//! children (pure); [`apply`] makes them exist (or not) and [`journal`] reads both journals
//! through the service proxy; [`analysis`] compares the decisions cycle by cycle and comes
//! to a verdict (pure).
//!
//! The live pods keep their pod template, config and credentials Secrets while a shadow
//! runs, as while a Supervised upgrade waits for its window; the live Deployment carries the
//! decision revision it runs (`names::DECISION_REVISION_ANNOTATION`), so no status is needed
//! to know what is live.

pub mod analysis;
pub mod apply;
pub mod gate;
pub mod journal;
pub mod names;
pub mod render;
pub mod revision;

#[cfg(test)]
mod analysis_tests;
#[cfg(test)]
mod gate_tests;
#[cfg(test)]
mod render_tests;
