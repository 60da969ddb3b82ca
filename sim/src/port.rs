//! Port descriptions: what the caller declares, and the handles used to drive the model.

use crate::SimError;

/// Which way a port carries data, seen from the design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Driven by the testbench (Rust) with [`crate::Model::set`].
    Input,
    /// Driven by the design, read with [`crate::Model::get`].
    Output,
}

/// One top-level port of the design, as the caller expects it to be.
///
/// The list given to [`crate::ModelBuilder::new`] may name a subset of the design's ports;
/// every entry is checked against what Verilator generated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortSpec {
    /// The Verilog port name (a simple identifier; `$` and `__` are fine).
    pub name: String,
    /// Width in bits, 1 to 64.
    pub width: u32,
    /// Input or output.
    pub direction: Direction,
}

impl PortSpec {
    /// An input port of `width` bits.
    pub fn input(name: impl Into<String>, width: u32) -> Self {
        PortSpec {
            name: name.into(),
            width,
            direction: Direction::Input,
        }
    }

    /// An output port of `width` bits.
    pub fn output(name: impl Into<String>, width: u32) -> Self {
        PortSpec {
            name: name.into(),
            width,
            direction: Direction::Output,
        }
    }

    /// Bit mask of the port's width (`width` low bits set).
    pub fn mask(&self) -> u64 {
        if self.width >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width) - 1
        }
    }

    /// Checks the width is supported and the name is a simple Verilog identifier.
    pub(crate) fn validate(&self) -> Result<(), SimError> {
        if self.width == 0 || self.width > 64 {
            return Err(SimError::PortTooWide {
                name: self.name.clone(),
                width: self.width,
            });
        }
        let mut chars = self.name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if !first_ok || !rest_ok {
            return Err(SimError::PortMismatch {
                name: self.name.clone(),
                reason: "not a simple Verilog identifier ([A-Za-z_][A-Za-z0-9_$]*)".into(),
            });
        }
        Ok(())
    }

    /// The name of the port's member in the Verilated C++ class.
    ///
    /// Mirrors Verilator's `AstNode::encodeName`: characters that are not valid in C++
    /// become `__0XX` (hex), and a double underscore becomes `___05F`.
    pub(crate) fn cpp_name(&self) -> String {
        let bytes = self.name.as_bytes();
        let mut out = String::with_capacity(bytes.len() + 8);
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let plain = if i == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric()
            };
            if plain {
                out.push(c as char);
            } else if c == b'_' {
                if bytes.get(i + 1) == Some(&b'_') {
                    out.push_str("___05F");
                    i += 1;
                } else {
                    out.push('_');
                }
            } else {
                out.push_str(&format!("__0{c:02x}"));
            }
            i += 1;
        }
        out
    }
}

/// A cheap handle to one port of a [`crate::Model`], looked up once by name with
/// [`crate::Model::port`] and then used for every `set`/`get` in the hot loop.
///
/// It is the port's index in the builder's port list, so it is only meaningful for
/// models built from that list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub usize);

impl From<usize> for PortId {
    fn from(index: usize) -> Self {
        PortId(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpp_names_follow_verilator_encoding() {
        assert_eq!(PortSpec::input("clk", 1).cpp_name(), "clk");
        assert_eq!(PortSpec::input("x$y", 1).cpp_name(), "x__024y");
        assert_eq!(PortSpec::input("d__e", 1).cpp_name(), "d___05Fe");
        assert_eq!(PortSpec::input("_a", 1).cpp_name(), "_a");
    }

    #[test]
    fn widths_and_names_are_validated() {
        assert!(PortSpec::input("a", 64).validate().is_ok());
        assert!(matches!(
            PortSpec::input("a", 65).validate(),
            Err(SimError::PortTooWide { width: 65, .. })
        ));
        assert!(matches!(
            PortSpec::input("a", 0).validate(),
            Err(SimError::PortTooWide { width: 0, .. })
        ));
        assert!(matches!(
            PortSpec::input("a b", 1).validate(),
            Err(SimError::PortMismatch { .. })
        ));
        assert!(matches!(
            PortSpec::input("1a", 1).validate(),
            Err(SimError::PortMismatch { .. })
        ));
        assert_eq!(PortSpec::input("a", 64).mask(), u64::MAX);
        assert_eq!(PortSpec::input("a", 40).mask(), (1 << 40) - 1);
    }
}
