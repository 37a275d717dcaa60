//! A bounded cache: at most `capacity` entries, the oldest out first. For answers of
//! outside services that are worth asking once (addresses, synthesized speech).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Entries by key, and the order they came in.
pub struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<K: Eq + Hash + Clone, V> Bounded<K, V> {
    /// The entry of `key`, if kept.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// Keeps `value` for `key`; past `capacity` entries (at least 1), the oldest go.
    pub fn insert(&mut self, key: K, value: V, capacity: usize) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > capacity.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Bounded;

    #[test]
    fn the_oldest_entries_go_first() {
        let mut c = Bounded::default();
        for i in 0..5 {
            c.insert(i, i * 10, 3);
        }
        assert_eq!(
            (c.get(&0), c.get(&1), c.get(&2), c.get(&4)),
            (None, None, Some(&20), Some(&40))
        );
        c.insert(4, 41, 3);
        assert_eq!(
            (c.get(&2), c.get(&4)),
            (Some(&20), Some(&41)),
            "a new value for a kept key evicts nothing"
        );
    }
}
