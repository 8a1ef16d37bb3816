//! A flag value the shell completions offer a list of words for, while the
//! command itself validates it: `check --require` folds case (`IPv6`) and
//! words its own error, naming every accepted name, which clap's
//! `PossibleValuesParser` would replace with its own. Only the completion
//! scripts (clap_complete reads `possible_values`) see the list; `--help`
//! and the man page keep the flag's own doc comment (`hide_possible_values`).

use std::ffi::OsStr;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};

/// Any string, with `words` offered to the shell.
#[derive(Clone, Debug)]
pub struct Offered(pub Vec<&'static str>);

impl TypedValueParser for Offered {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().copied().map(PossibleValue::new)))
    }
}
