//! An OpenAI-compatible chat completions API.
