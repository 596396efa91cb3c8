//! Who links to whom: the classic herds, any config file, and generated graphs (a ring with
//! random chords, a random regular graph, a grid). Pure but for reading a config file.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::config::Config;

/// The classic herds of the protocol page, by year, as committed under `config/`.
const CLASSIC: [(&str, &str); 5] = [
    ("2023", include_str!("../../config/herd.ron")),
    ("2022", include_str!("../../config/herd-2022.ron")),
    ("2021", include_str!("../../config/herd-2021.ron")),
    ("2020", include_str!("../../config/herd-2020.ron")),
    ("2018", include_str!("../../config/herd-2018.ron")),
];

/// A herd's graph.
#[derive(Clone, Debug)]
pub struct Topology {
    /// What it is, for the report.
    pub kind: String,
    /// Server names by index.
    pub names: Vec<Arc<str>>,
    /// Links as pairs of server indices, in config order (each server lists its neighbours in
    /// this order, as `Config::neighbours` does).
    pub links: Vec<(u32, u32)>,
    /// Each server's neighbours in config order: (server, link index).
    pub adj: Vec<Vec<(u32, u32)>>,
}

impl Topology {
    /// A topology from names and links (indices); `adj` follows the links' order.
    pub fn new(kind: String, names: Vec<Arc<str>>, links: Vec<(u32, u32)>) -> Topology {
        let mut adj = vec![Vec::new(); names.len()];
        for (i, &(a, b)) in links.iter().enumerate() {
            adj[a as usize].push((b, i as u32));
            adj[b as usize].push((a, i as u32));
        }
        Topology {
            kind,
            names,
            links,
            adj,
        }
    }

    /// The servers and links of a config.
    pub fn from_config(cfg: &Config, kind: String) -> Result<Topology, String> {
        let names: Vec<Arc<str>> = cfg.servers.iter().map(|s| s.name.as_str().into()).collect();
        let index = |n: &str| {
            names
                .iter()
                .position(|m| &**m == n)
                .ok_or_else(|| format!("unknown server {n:?}"))
        };
        let mut links = Vec::new();
        for (a, b) in &cfg.links {
            links.push((index(a)? as u32, index(b)? as u32));
        }
        Ok(Topology::new(kind, names, links))
    }

    /// The classic herd of `year` (2018, 2020, 2021, 2022, 2023) and its config.
    pub fn classic(year: &str) -> Result<(Topology, Config), String> {
        let (_, text) = CLASSIC
            .iter()
            .find(|(y, _)| *y == year)
            .ok_or_else(|| format!("no classic herd {year:?} (2018, 2020, 2021, 2022, 2023)"))?;
        let cfg =
            Config::parse(text, &format!("<classic herd {year}>")).map_err(|e| e.to_string())?;
        let t = Topology::from_config(&cfg, format!("the {year} classic herd"))?;
        Ok((t, cfg))
    }

    /// Servers.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True for a herd of no server.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Hop counts from `from` to every server (`u32::MAX` when unreachable).
    pub fn hops(&self, from: usize) -> Vec<u32> {
        let mut dist = vec![u32::MAX; self.len()];
        let mut queue = VecDeque::from([from]);
        dist[from] = 0;
        while let Some(n) = queue.pop_front() {
            for &(m, _) in &self.adj[n] {
                if dist[m as usize] == u32::MAX {
                    dist[m as usize] = dist[n] + 1;
                    queue.push_back(m as usize);
                }
            }
        }
        dist
    }

    /// The diameter (longest shortest path), or `None` when the graph is not connected.
    pub fn diameter(&self) -> Option<u32> {
        let mut d = 0;
        for s in 0..self.len() {
            let far = self.hops(s).into_iter().max().unwrap_or(0);
            if far == u32::MAX {
                return None;
            }
            d = d.max(far);
        }
        Some(d)
    }
}

/// Names `s0`.. padded so that lexical order is index order (the owner of every link is then
/// its smaller index).
fn names(n: usize) -> Vec<Arc<str>> {
    let width = n.saturating_sub(1).to_string().len();
    (0..n).map(|i| format!("s{i:0width$}").into()).collect()
}

/// A ring of `n` servers plus `chords` random links between servers not yet linked.
pub fn ring(n: usize, chords: usize, rng: &mut fastrand::Rng) -> Topology {
    let mut links: Vec<(u32, u32)> = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |a: usize, b: usize, links: &mut Vec<(u32, u32)>| {
        let key = (a.min(b) as u32, a.max(b) as u32);
        if a != b && seen.insert(key) {
            links.push(key);
            true
        } else {
            false
        }
    };
    if n > 1 {
        for i in 0..n {
            add(i, (i + 1) % n, &mut links);
        }
    }
    let possible = n * n.saturating_sub(1) / 2;
    let chords = chords.min(possible.saturating_sub(links.len()));
    let mut added = 0;
    while added < chords {
        if add(rng.usize(..n), rng.usize(..n), &mut links) {
            added += 1;
        }
    }
    let kind = format!("ring of {n} servers with {chords} random chords");
    Topology::new(kind, names(n), links)
}

/// A random `k`-regular graph on `n` servers, connected (stubs paired at random, restarting
/// when stuck or disconnected). `Err` when none exists (`n * k` odd or `k >= n`).
pub fn regular(n: usize, k: usize, rng: &mut fastrand::Rng) -> Result<Topology, String> {
    if k >= n || (n * k) % 2 == 1 || k == 0 {
        return Err(format!(
            "no {k}-regular graph on {n} servers (needs 0 < k < n and n*k even)"
        ));
    }
    for _ in 0..1000 {
        if let Some(links) = try_regular(n, k, rng) {
            let t = Topology::new(
                format!("random {k}-regular graph of {n} servers"),
                names(n),
                links,
            );
            if t.diameter().is_some() {
                return Ok(t);
            }
        }
    }
    Err(format!(
        "could not draw a connected {k}-regular graph on {n} servers"
    ))
}

/// One attempt at pairing stubs; `None` when it got stuck.
fn try_regular(n: usize, k: usize, rng: &mut fastrand::Rng) -> Option<Vec<(u32, u32)>> {
    let mut stubs: Vec<u32> = (0..n as u32)
        .flat_map(|i| std::iter::repeat_n(i, k))
        .collect();
    let mut seen = HashSet::new();
    let mut links = Vec::with_capacity(n * k / 2);
    while !stubs.is_empty() {
        let mut paired = false;
        for _ in 0..100 {
            let i = rng.usize(..stubs.len());
            let j = rng.usize(..stubs.len());
            let (a, b) = (stubs[i], stubs[j]);
            if i == j || a == b || seen.contains(&(a.min(b), a.max(b))) {
                continue;
            }
            seen.insert((a.min(b), a.max(b)));
            links.push((a.min(b), a.max(b)));
            let (hi, lo) = (i.max(j), i.min(j));
            stubs.swap_remove(hi);
            stubs.swap_remove(lo);
            paired = true;
            break;
        }
        if !paired {
            return None;
        }
    }
    Some(links)
}

/// A grid of `n` servers, as square as it gets: rows of `ceil(sqrt(n))`, each server linked to
/// its right and lower neighbours.
pub fn grid(n: usize) -> Topology {
    let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
    let mut links = Vec::new();
    for i in 0..n {
        if (i + 1) % cols != 0 && i + 1 < n {
            links.push((i as u32, (i + 1) as u32));
        }
        if i + cols < n {
            links.push((i as u32, (i + cols) as u32));
        }
    }
    let rows = n.div_ceil(cols);
    Topology::new(
        format!("{rows}x{cols} grid of {n} servers"),
        names(n),
        links,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn degrees(t: &Topology) -> Vec<usize> {
        t.adj.iter().map(Vec::len).collect()
    }

    #[test]
    fn generated_graphs_have_the_shape_asked_for() {
        let mut rng = fastrand::Rng::with_seed(7);
        let r = ring(100, 50, &mut rng);
        assert_eq!(r.links.len(), 150);
        assert!(
            r.diameter().is_some_and(|d| d < 50),
            "chords shorten the ring"
        );
        assert_eq!(ring(10, 0, &mut rng).diameter(), Some(5));
        let g = regular(100, 4, &mut rng).unwrap();
        assert!(degrees(&g).iter().all(|&d| d == 4));
        assert!(regular(5, 3, &mut rng).is_err(), "5*3 is odd");
        let gr = grid(12);
        assert_eq!(gr.kind, "3x4 grid of 12 servers");
        assert_eq!(gr.links.len(), 3 * 3 + 2 * 4);
        assert_eq!(gr.diameter(), Some(5));
        assert_eq!(&*r.names[7], "s07");
        assert!(
            r.names.windows(2).all(|w| w[0] < w[1]),
            "lexical = index order"
        );
    }

    #[test]
    fn classic_herds_load() {
        let (t, _) = Topology::classic("2023").unwrap();
        assert_eq!((t.len(), t.links.len()), (5, 6));
        let clark = t.names.iter().position(|n| &**n == "Clark").unwrap();
        let n: Vec<&str> = t.adj[clark]
            .iter()
            .map(|&(m, _)| &*t.names[m as usize])
            .collect();
        assert_eq!(n, ["Jaquez", "Bona"], "config order");
        assert!(Topology::classic("1999").is_err());
    }
}
