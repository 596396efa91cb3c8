//! A table selection that follows its row by key when rows move or change.

/// The selected row of a table, remembered by key (server name, connection id…)
/// so it stays on the same row when the table is re-sorted or refreshed; when
/// that row disappears, the selection stays at the same position.
#[derive(Clone, Debug)]
pub struct Selection<K> {
    /// Key of the selected row, if any row was ever selected.
    key: Option<K>,
    /// Position of the selected row at the last sync.
    index: usize,
}

impl<K> Default for Selection<K> {
    fn default() -> Self {
        Self {
            key: None,
            index: 0,
        }
    }
}

impl<K: PartialEq + Clone> Selection<K> {
    /// The selected position among `keys` (the rows in display order), if any row exists.
    pub fn index_in(&self, keys: &[K]) -> Option<usize> {
        if keys.is_empty() {
            return None;
        }
        let by_key = self
            .key
            .as_ref()
            .and_then(|k| keys.iter().position(|x| x == k));
        Some(by_key.unwrap_or(self.index.min(keys.len() - 1)))
    }

    /// The selected key among `keys`, if any row exists.
    pub fn key_in(&self, keys: &[K]) -> Option<K> {
        self.index_in(keys).map(|i| keys[i].clone())
    }

    /// Re-anchor on the rows now shown: remember the selected row's key and position.
    pub fn sync(&mut self, keys: &[K]) {
        if let Some(i) = self.index_in(keys) {
            self.index = i;
            self.key = Some(keys[i].clone());
        }
    }

    /// Move the selection by `delta` rows, clamped to the table.
    pub fn move_by(&mut self, delta: isize, keys: &[K]) {
        let Some(i) = self.index_in(keys) else {
            return;
        };
        let target = i.saturating_add_signed(delta).min(keys.len() - 1);
        self.index = target;
        self.key = Some(keys[target].clone());
    }

    /// Select the first row.
    pub fn first(&mut self, keys: &[K]) {
        self.index = 0;
        self.key = keys.first().cloned();
    }

    /// Select the last row.
    pub fn last(&mut self, keys: &[K]) {
        self.index = keys.len().saturating_sub(1);
        self.key = keys.last().cloned();
    }
}
