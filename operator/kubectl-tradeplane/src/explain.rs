//! `explain NAME CYCLE`: one cycle from `/api/v1/cycles/{id}`, rendered in full.

use std::io::Write;

use tradeplane_contract::journal_api::CycleDetail;

use crate::cli::ExplainArgs;
use crate::cluster::Target;
use crate::error::Error;
use crate::output::{style, write_as};
use crate::proxy::RuntimeProxy;
use crate::render::explain::render;

pub async fn run(target: &Target, args: &ExplainArgs, out: &mut dyn Write) -> Result<(), Error> {
    target.strategy(&args.name).await?;
    let proxy = RuntimeProxy::new(target.client.clone(), &target.namespace, &args.name);
    let detail: CycleDetail = match proxy
        .get(&format!("cycles/{}", encode_segment(&args.cycle)))
        .await
    {
        Err(Error::RuntimeRefused { status: 404, .. }) => {
            return Err(Error::UnknownCycle {
                strategy: args.name.clone(),
                cycle: args.cycle.clone(),
            });
        }
        other => other?,
    };
    match args.output {
        Some(format) => write_as(out, format, &detail),
        None => Ok(out.write_all(render(&detail, style()).as_bytes())?),
    }
}

/// A cycle id as one path segment: ids are `20240520T000000Z`-like, anything else is escaped.
fn encode_segment(id: &str) -> String {
    crate::proxy::query(&[("x", Some(id.to_string()))])
        .trim_start_matches("?x=")
        .to_string()
}
