//! `-o json|yaml`, and whether to colour: only when stdout is a terminal.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::Error;
use crate::render::Style;

pub fn write_as<T: Serialize>(
    out: &mut dyn Write,
    format: OutputFormat,
    value: &T,
) -> Result<(), Error> {
    let text = match format {
        OutputFormat::Json => {
            serde_json::to_string_pretty(value).map_err(|e| Error::Encode(e.to_string()))? + "\n"
        }
        OutputFormat::Yaml => {
            serde_yaml::to_string(value).map_err(|e| Error::Encode(e.to_string()))?
        }
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// Colour when stdout is a terminal and `NO_COLOR` is not set.
pub fn style() -> Style {
    Style {
        colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}
