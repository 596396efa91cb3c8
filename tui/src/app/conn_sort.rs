//! Sorting of the Connections table (nats-top style).

use std::cmp::Ordering;

use crate::model::ConnSnapshot;

/// A column the Connections table can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnSort {
    /// Connection id.
    Id,
    /// Remote address.
    Addr,
    /// Client or peer.
    Kind,
    /// Time since accepted.
    Age,
    /// Time since the last line.
    Idle,
    /// Lines read.
    LinesIn,
    /// Lines written.
    LinesOut,
    /// Bytes read.
    BytesIn,
    /// Bytes written.
    BytesOut,
    /// Last command.
    LastCommand,
}

impl ConnSort {
    /// Every column, in table order (the order `o` cycles through).
    pub const ALL: [ConnSort; 10] = [
        ConnSort::Id,
        ConnSort::Addr,
        ConnSort::Kind,
        ConnSort::Age,
        ConnSort::Idle,
        ConnSort::LinesIn,
        ConnSort::LinesOut,
        ConnSort::BytesIn,
        ConnSort::BytesOut,
        ConnSort::LastCommand,
    ];

    /// The column after this one, wrapping around.
    pub fn next(self) -> ConnSort {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// Position of this column in [`ConnSort::ALL`] (and in the table).
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }

    /// Short name shown in the table title.
    pub fn label(self) -> &'static str {
        match self {
            ConnSort::Id => "id",
            ConnSort::Addr => "address",
            ConnSort::Kind => "kind",
            ConnSort::Age => "age",
            ConnSort::Idle => "idle",
            ConnSort::LinesIn => "lines in",
            ConnSort::LinesOut => "lines out",
            ConnSort::BytesIn => "bytes in",
            ConnSort::BytesOut => "bytes out",
            ConnSort::LastCommand => "last command",
        }
    }

    /// Compare two connections by this column, ascending; ties broken by id.
    pub fn compare(self, a: &ConnSnapshot, b: &ConnSnapshot) -> Ordering {
        let primary = match self {
            ConnSort::Id => Ordering::Equal,
            ConnSort::Addr => a.addr.cmp(&b.addr),
            ConnSort::Kind => a.kind.cmp(&b.kind),
            ConnSort::Age => a.age.cmp(&b.age),
            ConnSort::Idle => a.idle.cmp(&b.idle),
            ConnSort::LinesIn => a.lines_in.cmp(&b.lines_in),
            ConnSort::LinesOut => a.lines_out.cmp(&b.lines_out),
            ConnSort::BytesIn => a.bytes_in.cmp(&b.bytes_in),
            ConnSort::BytesOut => a.bytes_out.cmp(&b.bytes_out),
            ConnSort::LastCommand => a.last_command.cmp(&b.last_command),
        };
        primary.then(a.id.cmp(&b.id))
    }
}

/// Sort connections by `column`, descending if `descending`.
pub fn sort_connections(conns: &mut [&ConnSnapshot], column: ConnSort, descending: bool) {
    conns.sort_by(|a, b| {
        let ord = column.compare(a, b);
        if descending {
            ord.reverse()
        } else {
            ord
        }
    });
}
