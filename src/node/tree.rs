//! The herd's spanning trees: for every origin server, a breadth-first tree of the herd's links,
//! so that an update travels each tree edge once instead of every link. Pure.
//!
//! Every server works the same trees out of the same config: the tree of origin `O` is the
//! breadth-first search from `O` that visits each server's neighbours in name order, a server's
//! parent being the first to reach it. A server's children in `O`'s tree are the neighbours
//! it must send `O`'s updates to. A copy on the tree (`UPDATE ^<herd> <AT line>`) names the
//! herd's shape ([`Tree::token`]: a digest of its servers and links); a server whose config
//! makes another shape, or that cannot send to one of its children (the link is down), sends a
//! detour instead (see [`super::Node::forward`]).

use std::collections::VecDeque;
use std::sync::Arc;

use crate::digest::hash64;
use crate::outbox::Seen;
use crate::wire::MAX_SEEN;

/// One server's share of the herd's spanning trees.
#[derive(Clone, Debug)]
pub struct Tree {
    /// `^` and 8 hex digits: the digest of the herd's servers and links.
    token: Seen,
    /// Per origin server: this server's children in its tree (bit `i`: neighbour `i`).
    children: Vec<(Arc<str>, u64)>,
}

impl Tree {
    /// The trees of the herd of `servers` joined by `links`, as seen by `me`, whose
    /// neighbours are `neighbours` (in the order the node numbers them). `None` when trees do
    /// not apply: `me` is not one of the servers, a neighbour is not linked to it, it has more
    /// than 64 neighbours, or the herd has more than [`MAX_SEEN`] servers (a detour's seen
    /// list must be able to name every server, see [`super::Node::forward`]).
    pub fn plan(
        me: &str,
        neighbours: &[Arc<str>],
        servers: &[&str],
        links: &[(&str, &str)],
    ) -> Option<Tree> {
        if servers.len() > MAX_SEEN || neighbours.len() > 64 {
            return None;
        }
        let mut names: Vec<&str> = servers.to_vec();
        names.sort_unstable();
        names.dedup();
        let index = |n: &str| names.binary_search(&n).ok();
        let mut adj: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for &(a, b) in links {
            let (a, b) = (index(a)?, index(b)?);
            if a != b {
                edges.push((a.min(b), a.max(b)));
            }
        }
        edges.sort_unstable();
        edges.dedup();
        for &(a, b) in &edges {
            adj[a].push(b);
            adj[b].push(a);
        }
        // Names are sorted, so sorting indices visits neighbours in name order.
        for a in &mut adj {
            a.sort_unstable();
        }
        let me_i = index(me)?;
        let nb: Vec<usize> = neighbours
            .iter()
            .map(|n| index(n).filter(|i| adj[me_i].contains(i)))
            .collect::<Option<_>>()?;
        let children = (0..names.len())
            .map(|origin| {
                let parent = bfs_parents(&adj, origin);
                let mask = nb
                    .iter()
                    .enumerate()
                    .filter(|&(_, &s)| parent[s] == Some(me_i))
                    .fold(0u64, |m, (i, _)| m | 1 << i);
                (Arc::from(names[origin]), mask)
            })
            .collect();
        let mut shape = String::new();
        for n in &names {
            shape.push_str(n);
            shape.push('\n');
        }
        for &(a, b) in &edges {
            shape.push_str(&format!("{}-{}\n", names[a], names[b]));
        }
        let token = format!("^{:08x}", hash64(shape.as_bytes()) as u32);
        Some(Tree {
            token: Seen::from(token.as_bytes()),
            children,
        })
    }

    /// What a copy on this herd's trees carries after `UPDATE `.
    pub fn token(&self) -> &Seen {
        &self.token
    }

    /// This server's children in the tree of the server named `origin`, or `None` for a
    /// server not in the herd.
    pub fn children(&self, origin: &[u8]) -> Option<u64> {
        self.children
            .iter()
            .find(|(n, _)| n.as_bytes() == origin)
            .map(|&(_, m)| m)
    }
}

/// Each server's parent in the breadth-first tree from `root` (`None`: the root, or a server
/// the root cannot reach).
fn bfs_parents(adj: &[Vec<usize>], root: usize) -> Vec<Option<usize>> {
    let mut parent = vec![None; adj.len()];
    let mut visited = vec![false; adj.len()];
    visited[root] = true;
    let mut queue = VecDeque::from([root]);
    while let Some(v) = queue.pop_front() {
        for &w in &adj[v] {
            if !visited[w] {
                visited[w] = true;
                parent[w] = Some(v);
                queue.push_back(w);
            }
        }
    }
    parent
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVERS: [&str; 5] = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];
    const LINKS: [(&str, &str); 6] = [
        ("Clark", "Jaquez"),
        ("Clark", "Bona"),
        ("Campbell", "Bailey"),
        ("Campbell", "Bona"),
        ("Campbell", "Jaquez"),
        ("Bona", "Bailey"),
    ];

    fn neighbours(me: &str, links: &[(&str, &str)]) -> Vec<Arc<str>> {
        links
            .iter()
            .filter_map(|&(a, b)| match (a == me, b == me) {
                (true, _) => Some(b.into()),
                (_, true) => Some(a.into()),
                _ => None,
            })
            .collect()
    }

    /// `me`'s children in `origin`'s tree, by name.
    fn check(me: &str, origin: &str, expected: &[&str]) {
        let nb = neighbours(me, &LINKS);
        let t = Tree::plan(me, &nb, &SERVERS, &LINKS).expect("a plan");
        let mask = t.children(origin.as_bytes()).expect("a known origin");
        let got: Vec<&str> = (0..nb.len())
            .filter(|i| mask & 1 << i != 0)
            .map(|i| &*nb[i])
            .collect();
        assert_eq!(got, expected, "{me}'s children in {origin}'s tree");
    }

    #[test]
    fn the_trees_of_the_2023_herd() {
        // Clark's tree: Clark -> Jaquez, Bona; Bona -> Bailey, Campbell (Bona reaches Campbell
        // before Jaquez does: names in order).
        check("Clark", "Clark", &["Jaquez", "Bona"]);
        check("Bona", "Clark", &["Campbell", "Bailey"]);
        check("Jaquez", "Clark", &[]);
        check("Campbell", "Clark", &[]);
        check("Bailey", "Clark", &[]);
        // Bailey's tree: Bailey -> Bona, Campbell; Bona -> Clark; Campbell -> Jaquez.
        check("Bailey", "Bailey", &["Campbell", "Bona"]);
        check("Bona", "Bailey", &["Clark"]);
        check("Campbell", "Bailey", &["Jaquez"]);
        check("Clark", "Bailey", &[]);
        // Jaquez's tree: Jaquez -> Campbell, Clark; Campbell -> Bailey, Bona.
        check("Campbell", "Jaquez", &["Bailey", "Bona"]);
        check("Clark", "Jaquez", &[]);
    }

    #[test]
    fn every_tree_spans_the_herd_with_one_edge_per_server() {
        for origin in SERVERS {
            let mut reached: Vec<String> = vec![origin.to_string()];
            let mut edges = 0;
            for me in SERVERS {
                let nb = neighbours(me, &LINKS);
                let t = Tree::plan(me, &nb, &SERVERS, &LINKS).expect("a plan");
                let mask = t.children(origin.as_bytes()).expect("known");
                for (i, n) in nb.iter().enumerate() {
                    if mask & 1 << i != 0 {
                        reached.push(n.to_string());
                        edges += 1;
                    }
                }
            }
            reached.sort_unstable();
            assert_eq!(reached, SERVERS, "{origin}'s tree reaches each server once");
            assert_eq!(edges, SERVERS.len() - 1);
        }
    }

    #[test]
    fn the_token_names_the_shape_not_the_order_it_is_written_in() {
        let token = |servers: &[&str], links: &[(&str, &str)]| {
            let nb = neighbours("Clark", links);
            Tree::plan("Clark", &nb, servers, links)
                .map(|t| String::from_utf8_lossy(t.token()).into_owned())
        };
        let a = token(&SERVERS, &LINKS).expect("a plan");
        assert!(a.starts_with('^') && a.len() == 9, "{a}");
        let mut reversed: Vec<(&str, &str)> = LINKS.iter().map(|&(a, b)| (b, a)).collect();
        reversed.reverse();
        let mut servers = SERVERS;
        servers.reverse();
        assert_eq!(token(&servers, &reversed).as_deref(), Some(&*a));
        let fewer = &LINKS[..5];
        assert_ne!(token(&SERVERS, fewer).as_deref(), Some(&*a));
    }

    #[test]
    fn no_trees_where_they_cannot_apply() {
        let nb = neighbours("Clark", &LINKS);
        assert!(Tree::plan("Nobody", &nb, &SERVERS, &LINKS).is_none());
        let stranger: Vec<Arc<str>> = vec!["Bailey".into()];
        assert!(
            Tree::plan("Clark", &stranger, &SERVERS, &LINKS).is_none(),
            "Bailey is not Clark's neighbour"
        );
        let many: Vec<String> = (0..=MAX_SEEN).map(|i| format!("s{i}")).collect();
        let many: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        let links: Vec<(&str, &str)> = many.windows(2).map(|w| (w[0], w[1])).collect();
        let nb = neighbours("s1", &links);
        assert!(
            Tree::plan("s1", &nb, &many, &links).is_none(),
            "too many servers"
        );
        let t = Tree::plan("s1", &nb, &many[..MAX_SEEN], &links[..MAX_SEEN - 1]);
        assert!(t.is_some(), "a herd of MAX_SEEN servers has trees");
        let t = Tree::plan("Clark", &neighbours("Clark", &LINKS), &SERVERS, &LINKS);
        assert_eq!(t.and_then(|t| t.children(b"Nobody")), None);
    }
}
