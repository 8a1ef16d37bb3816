//! The Prometheus text exposition format 0.0.4, as the reports of two
//! commands write it: `serve --metrics` (a page of counters) and `check
//! --metrics-file` (node_exporter's textfile collector). One family at a
//! time: `# HELP`, `# TYPE`, then one sample per line with its labels, label
//! values escaped as the format says.

use std::fmt::Write;

/// A label value as the text format wants it: backslash, double quote and
/// line feed escaped (nothing else needs it).
pub fn label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One metric family: name, type (`counter`, `gauge`), help, and its samples
/// as (labels, value).
pub struct Family<'a> {
    pub name: &'static str,
    pub kind: &'static str,
    pub help: &'static str,
    pub samples: Vec<(Vec<(&'static str, &'a str)>, String)>,
}

impl Family<'_> {
    /// Appends the family to `out`; a family without samples writes nothing.
    pub fn write(&self, out: &mut String) {
        if self.samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            if !labels.is_empty() {
                out.push('{');
                for (k, (key, val)) in labels.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{key}=\"{}\"", label_value(val));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {value}");
        }
    }
}

/// The page of `families`, in order (a family without samples says nothing).
pub fn render(families: &[Family<'_>]) -> String {
    let mut out = String::new();
    for family in families {
        family.write(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(label_value(r#"unix:/tmp/a\b"c"#), r#"unix:/tmp/a\\b\"c"#);
        assert_eq!(label_value("a\nb"), "a\\nb");
    }

    #[test]
    fn a_family_has_help_type_and_one_line_per_sample() {
        let mut out = String::new();
        Family {
            name: "x_total",
            kind: "counter",
            help: "Xs.",
            samples: vec![(vec![("a", "1"), ("b", "q\"")], "3".into())],
        }
        .write(&mut out);
        assert_eq!(
            out,
            "# HELP x_total Xs.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"\"} 3\n"
        );
        let mut empty = String::new();
        Family {
            name: "y",
            kind: "gauge",
            help: "Y.",
            samples: vec![],
        }
        .write(&mut empty);
        assert!(empty.is_empty());
    }
}
