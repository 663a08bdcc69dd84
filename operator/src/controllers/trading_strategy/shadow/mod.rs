//! Shadow revisions (`spec.rollout.strategy: Shadow`): a new decision-relevant revision
//! decides on paper beside the live pods before it may trade.
//!
//! [`revision`] says what a decision-relevant revision is; [`render`] builds the shadow's
//! children (pure); [`analysis`] compares the two journals' decisions cycle by cycle and
//! comes to a verdict (pure).

pub mod analysis;
pub mod names;
pub mod render;
pub mod revision;

#[cfg(test)]
mod analysis_tests;
#[cfg(test)]
mod render_tests;
