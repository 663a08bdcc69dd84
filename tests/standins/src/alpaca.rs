//! An Alpaca-compatible trading REST API.
