//! The node as tables: a line and a time in, the reply and the effects out.

use std::sync::Arc;

use super::*;
use crate::protocol::parse_time;

fn node() -> Node {
    Node::new("Clark".into(), vec!["Bona".into(), "Jaquez".into()], 3)
}

/// Runs `line` at time `now` and checks the reply and the outcome's shape.
fn check(n: &Node, line: &str, now: &str, reply: &str, outcome: &str) {
    let mut out = Vec::new();
    let got = n.client_line(
        line.as_bytes(),
        parse_time(now.as_bytes()).unwrap(),
        &mut out,
    );
    assert_eq!(String::from_utf8_lossy(&out), reply, "{line:?}");
    let shape = match &got {
        Outcome::Accepted(e) => {
            let (to, seen) = n.forward(&e.flood, |_| true);
            format!(
                "accepted, flood to {to:?} seen {}",
                String::from_utf8_lossy(&seen)
            )
        }
        Outcome::NotNewer => "not newer".into(),
        Outcome::Full => "full".into(),
        Outcome::Lookup(l) => format!("lookup {} m", l.query.radius_m),
        Outcome::UnknownClient => "unknown client".into(),
        Outcome::Invalid {
            reason,
            server_message,
        } => format!(
            "invalid: {}{}",
            reason.reason(),
            if *server_message {
                " (server message)"
            } else {
                ""
            }
        ),
    };
    assert_eq!(shape, outcome, "{line:?}");
}

#[test]
fn client_lines() {
    let n = node();
    let at = "AT Clark +0.263873386 kiwi +34.068930-118.445127 1621464827.959498503\n";
    check(
        &n,
        "IAMAT kiwi +34.068930-118.445127 1621464827.959498503",
        "1621464828.223371889",
        at,
        "accepted, flood to [0, 1] seen ~Clark,Bona,Jaquez",
    );
    // An older report is answered, changes nothing, goes nowhere.
    check(
        &n,
        "IAMAT kiwi +1+1 1621464800",
        "1621464828",
        "AT Clark +28.000000000 kiwi +1+1 1621464800\n",
        "not newer",
    );
    check(&n, "WHATSAT kiwi 0.5 3", "1", "", "lookup 500 m");
    check(
        &n,
        "WHATSAT nobody 10 3",
        "1",
        "? WHATSAT nobody 10 3\n",
        "unknown client",
    );
    check(
        &n,
        "WHATSAT kiwi 51 3",
        "1",
        "? WHATSAT kiwi 51 3\n",
        "invalid: radius not a plain decimal in (0, 50] km",
    );
    check(
        &n,
        "HERD/1 HELLO Bona Clark 1 00",
        "1",
        "? HERD/1 HELLO Bona Clark 1 00\n",
        "invalid: unknown command (server message)",
    );
    check(
        &n,
        "PING 1",
        "1",
        "? PING 1\n",
        "invalid: unknown command (server message)",
    );
    check(&n, "", "1", "? \n", "invalid: empty line");
    // The table holds three clients: a fourth new one is refused.
    check(
        &n,
        "IAMAT b +1+1 1",
        "1",
        "AT Clark +0.000000000 b +1+1 1\n",
        "accepted, flood to [0, 1] seen ~Clark,Bona,Jaquez",
    );
    check(
        &n,
        "IAMAT c +1+1 1",
        "1",
        "AT Clark +0.000000000 c +1+1 1\n",
        "accepted, flood to [0, 1] seen ~Clark,Bona,Jaquez",
    );
    check(&n, "IAMAT d +1+1 1", "1", "? IAMAT d +1+1 1\n", "full");
    assert_eq!(n.len(), 3);
}

#[test]
fn lookup_reply_is_the_stored_line_then_the_document() {
    let n = node();
    let mut out = Vec::new();
    n.client_line(b"IAMAT kiwi +1+1 5", parse_time(b"6").unwrap(), &mut out);
    out.clear();
    let Outcome::Lookup(l) =
        n.client_line(b"WHATSAT kiwi 10 2", parse_time(b"7").unwrap(), &mut out)
    else {
        panic!("a lookup");
    };
    l.reply(
        &serde_json::json!({"results": [], "status": "ZERO_RESULTS"}),
        &mut out,
    );
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("AT Clark +1.000000000 kiwi +1+1 5\n{"),
        "{text}"
    );
    assert!(text.ends_with("}\n\n"), "{text}");
}

fn from(n: &Node, i: usize, at: &str) -> String {
    from_seen(n, i, at, "")
}

/// `at` from neighbour `i` with the seen list `seen`: what happened, and for an update that
/// changed the table, who gets it (all links up) with which seen list.
fn from_seen(n: &Node, i: usize, at: &str, seen: &str) -> String {
    let via = if seen.is_empty() {
        String::new()
    } else {
        format!("~{seen}")
    };
    arrive(n, i, at, &via, |_| true)
}

/// `at` from neighbour `i` with `via`, while the links `up` says are up: what happened, and
/// for an update that goes on, who gets it with which via.
fn arrive(n: &Node, i: usize, at: &str, via: &str, up: impl Fn(usize) -> bool) -> String {
    let show = |what: &str, e: &Effects| {
        let (to, seen) = n.forward(&e.flood, &up);
        format!(
            "{what}, flood to {to:?} seen {}",
            String::from_utf8_lossy(&seen)
        )
    };
    match n.neighbour_update(i, at.as_bytes(), via.as_bytes()) {
        FromNeighbour::Applied(e) => show("applied", &e),
        FromNeighbour::Relay(e) => show("relayed", &e),
        FromNeighbour::Held(_) => "held".into(),
        FromNeighbour::NotNewer(_) => "not newer".into(),
        FromNeighbour::Full(_) => "full".into(),
        FromNeighbour::Malformed => "malformed".into(),
    }
}

#[test]
fn neighbour_updates_flood_on_except_back_and_stop_when_known() {
    let n = node();
    let new = "AT Bona +0.100000000 kiwi +1+1 10";
    assert_eq!(from(&n, 0, new), "applied, flood to [1] seen ~Clark,Jaquez");
    assert_eq!(from(&n, 1, new), "held");
    assert_eq!(
        from(&n, 1, "AT Jaquez +0.100000000 kiwi +1+1 9"),
        "not newer"
    );
    assert_eq!(
        from(&n, 1, "AT Jaquez +0.100000000 kiwi +1+1 11"),
        "applied, flood to [0] seen ~Clark,Bona"
    );
    assert_eq!(from(&n, 0, "AT Bona kiwi"), "malformed");
    assert_eq!(from(&n, 0, "IAMAT kiwi +1+1 12"), "malformed");
    assert_eq!(
        n.lookup(b"kiwi").map(|u| u.at),
        Some(Arc::from(&b"AT Jaquez +0.100000000 kiwi +1+1 11"[..]))
    );
    // Restored updates count like any other, with no effects.
    let m = node();
    m.restore(n.snapshot().iter());
    assert_eq!(from(&m, 0, "AT Jaquez +0.100000000 kiwi +1+1 11"), "held");
}

#[test]
fn the_seen_list_skips_servers_already_sent_and_grows_as_the_update_travels() {
    let n = node();
    // Bona says it also sent it to Jaquez: Clark sends it nowhere, and says nothing new.
    assert_eq!(
        from_seen(&n, 0, "AT Bona +0.100000000 kiwi +1+1 10", "Bona,Jaquez"),
        "applied, flood to [] seen ~Bona,Jaquez"
    );
    // Sent only to Clark so far: Jaquez gets it, told that Jaquez, Bona and Clark have it
    // (the names this server adds come first).
    assert_eq!(
        from_seen(&n, 0, "AT Bona +0.100000000 kiwi +1+1 11", "Bona,Clark"),
        "applied, flood to [1] seen ~Jaquez,Bona,Clark"
    );
    // A link that is down gets no copy and is not named (it catches up when it comes back).
    let Outcome::Accepted(e) = n.client_line(
        b"IAMAT mouse +1+1 1",
        parse_time(b"2").unwrap(),
        &mut Vec::new(),
    ) else {
        panic!("accepted");
    };
    let (to, seen) = n.forward(&e.flood, |i| i == 1);
    assert_eq!((to, &*seen), (vec![1], &b"~Clark,Jaquez"[..]));
    // At most MAX_SEEN names travel: a shorter list only costs copies. The names this server
    // adds (itself, Jaquez) are kept; the oldest ones it was given are dropped.
    let many: Vec<String> = (0..crate::wire::MAX_SEEN)
        .map(|i| format!("S{i}"))
        .collect();
    let out = from_seen(&n, 0, "AT Bona +0.100000000 kiwi +1+1 12", &many.join(","));
    let kept = many[..crate::wire::MAX_SEEN - 2].join(",");
    assert_eq!(
        out,
        format!("applied, flood to [1] seen ~Clark,Jaquez,{kept}")
    );
}

#[test]
fn forward_decisions_are_reused_only_for_the_same_list_sender_and_links() {
    let n = node();
    let flood = |seen: &[u8], except| Flood {
        except,
        seen: n.seen_lists.get(|out| {
            out.push(b'~');
            out.extend_from_slice(seen)
        }),
        tree: None,
    };
    let names = |(to, seen): (Vec<usize>, Seen)| (to, String::from_utf8_lossy(&seen).into_owned());
    let from_client = n.client_flood();
    assert_eq!(
        names(n.forward(&from_client, |_| true)),
        (vec![0, 1], "~Clark,Bona,Jaquez".into())
    );
    // The same list with a link down, then up again: each answer follows the links.
    assert_eq!(
        names(n.forward(&from_client, |i| i == 1)),
        (vec![1], "~Clark,Jaquez".into())
    );
    assert_eq!(
        names(n.forward(&from_client, |_| true)),
        (vec![0, 1], "~Clark,Bona,Jaquez".into())
    );
    // Another sender, another list.
    assert_eq!(
        names(n.forward(&flood(b"Bona", Some(0)), |_| true)),
        (vec![1], "~Clark,Jaquez,Bona".into())
    );
    assert_eq!(
        names(n.forward(&flood(b"Bona,Jaquez", Some(0)), |_| true)),
        (vec![], "~Bona,Jaquez".into())
    );
    // Equal lists received apart are one allocation, and so is the list sent on.
    let (a, b) = (flood(b"Bona", Some(0)), flood(b"Bona", Some(0)));
    assert!(Arc::ptr_eq(&a.seen, &b.seen));
    let (_, sa) = n.forward(&a, |_| true);
    let (_, sb) = n.forward(&b, |_| true);
    assert!(Arc::ptr_eq(&sa, &sb));
    // Memory stays bounded however many lists go by.
    for i in 0..100 {
        let f = flood(format!("S{i}").as_bytes(), Some(0));
        let _ = n.forward(&f, |_| true);
    }
    assert!(lock(&n.seen_lists.inner).0.len() <= SEEN_KEPT);
    assert!(lock(&n.routes).len() <= ROUTES_KEPT);
}

/// The 2023 herd's links, in config order.
const LINKS: [(&str, &str); 6] = [
    ("Clark", "Jaquez"),
    ("Clark", "Bona"),
    ("Campbell", "Bailey"),
    ("Campbell", "Bona"),
    ("Campbell", "Jaquez"),
    ("Bona", "Bailey"),
];

/// Server `me` of the 2023 herd, on its trees; and its tree token.
fn herd_node(me: &str) -> (Node, String) {
    let servers = ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"];
    let neighbours: Vec<Arc<str>> = LINKS
        .iter()
        .filter_map(|&(a, b)| match (a == me, b == me) {
            (true, _) => Some(b.into()),
            (_, true) => Some(a.into()),
            _ => None,
        })
        .collect();
    let tree = Tree::plan(me, &neighbours, &servers, &LINKS);
    let n = Node::new(me.into(), neighbours, 10).with_tree(tree);
    let token = n
        .tree()
        .map(|t| String::from_utf8_lossy(t.token()).into_owned())
        .unwrap_or_default();
    (n, token)
}

#[test]
fn a_client_update_goes_on_the_tree_or_around_a_link_that_is_down() {
    // Clark's neighbours: 0 Jaquez, 1 Bona.
    let (n, token) = herd_node("Clark");
    let Outcome::Accepted(e) = n.client_line(
        b"IAMAT kiwi +1+1 1",
        parse_time(b"2").unwrap(),
        &mut Vec::new(),
    ) else {
        panic!("accepted");
    };
    let (to, via) = n.forward(&e.flood, |_| true);
    assert_eq!(
        (to, String::from_utf8_lossy(&via)),
        (vec![0, 1], token.into())
    );
    // Bona is down: its subtree (Bailey, Campbell) must be reached through Jaquez.
    let (to, via) = n.forward(&e.flood, |i| i == 0);
    assert_eq!((to, &*via), (vec![0], &b"!Clark,Jaquez"[..]));
}

#[test]
fn tree_copies_go_to_the_children_only() {
    let at = "AT Clark +0.100000000 kiwi +1+1 10";
    // Bona's neighbours: 0 Clark, 1 Campbell, 2 Bailey. In Clark's tree, Bona is the parent
    // of Campbell and Bailey.
    let (bona, token) = herd_node("Bona");
    assert_eq!(
        arrive(&bona, 0, at, &token, |_| true),
        format!("applied, flood to [1, 2] seen {token}")
    );
    // A second copy of what it holds goes nowhere.
    assert_eq!(arrive(&bona, 0, at, &token, |_| true), "held");
    // Jaquez (0 Clark, 1 Campbell) is a leaf of Clark's tree.
    let (jaquez, token) = herd_node("Jaquez");
    assert_eq!(
        arrive(&jaquez, 0, at, &token, |_| true),
        format!("applied, flood to [] seen {token}")
    );
}

#[test]
fn a_child_out_of_reach_sends_the_update_on_a_detour_that_holders_pass_on() {
    // Bailey's tree: Bailey -> Bona -> Clark, Bailey -> Campbell -> Jaquez. Bona cannot reach
    // Clark: the detour goes to Campbell, which holds the update already (from Bailey) and
    // passes it on to Jaquez, which passes it on to Clark.
    let at = "AT Bailey +0.100000000 kiwi +1+1 10";
    let (bona, token) = herd_node("Bona");
    let clark_down = |i: usize| i != 0;
    assert_eq!(
        arrive(&bona, 2, at, &token, clark_down),
        "applied, flood to [1] seen !Bona,Campbell"
    );
    // Campbell's neighbours: 0 Bailey, 1 Bona, 2 Jaquez.
    let (campbell, token) = herd_node("Campbell");
    assert_eq!(
        arrive(&campbell, 0, at, &token, |_| true),
        format!("applied, flood to [2] seen {token}")
    );
    assert_eq!(
        arrive(&campbell, 1, at, "!Bona,Campbell", |_| true),
        "relayed, flood to [0, 2] seen !Bailey,Jaquez,Bona,Campbell"
    );
    // Jaquez (0 Clark, 1 Campbell) holds it from the tree, and passes the detour on to Clark.
    let (jaquez, token) = herd_node("Jaquez");
    assert_eq!(
        arrive(&jaquez, 1, at, &token, |_| true),
        format!("applied, flood to [] seen {token}")
    );
    assert_eq!(
        arrive(&jaquez, 1, at, "!Bailey,Jaquez,Bona,Campbell", |_| true),
        "relayed, flood to [0] seen !Clark,Bailey,Jaquez,Bona,Campbell"
    );
    // Everyone named: the detour ends.
    let (clark, _) = herd_node("Clark");
    assert_eq!(
        arrive(&clark, 0, at, "!Clark,Bailey,Jaquez,Bona,Campbell", |_| {
            true
        }),
        "applied, flood to [] seen !Clark,Bailey,Jaquez,Bona,Campbell"
    );
    assert_eq!(
        arrive(&clark, 0, at, "!Clark,Bailey,Jaquez,Bona,Campbell", |_| {
            true
        }),
        "relayed, flood to [] seen !Clark,Bailey,Jaquez,Bona,Campbell"
    );
    // An older update on a detour is not passed on: the newer one travels on its own.
    assert_eq!(
        arrive(
            &clark,
            0,
            "AT Bailey +0.100000000 kiwi +1+1 9",
            "!Bona",
            |_| true
        ),
        "not newer"
    );
}

#[test]
fn another_herds_tree_or_an_unknown_origin_takes_a_detour() {
    // Bona: 0 Clark, 1 Campbell, 2 Bailey.
    let (bona, token) = herd_node("Bona");
    assert_ne!(token, "^00000000");
    let at = "AT Clark +0.100000000 kiwi +1+1 10";
    assert_eq!(
        arrive(&bona, 0, at, "^00000000", |_| true),
        "applied, flood to [1, 2] seen !Bona,Campbell,Bailey"
    );
    assert_eq!(
        arrive(&bona, 0, at, "^00000000", |_| true),
        "relayed, flood to [1, 2] seen !Bona,Campbell,Bailey"
    );
    let stranger = "AT Stranger +0.100000000 kiwi +1+1 11";
    assert_eq!(
        arrive(&bona, 0, stranger, &token, |_| true),
        "applied, flood to [1, 2] seen !Bona,Campbell,Bailey"
    );
    // Without trees (a large herd), a tree copy is a detour too.
    let plain = node();
    assert_eq!(
        arrive(&plain, 0, at, &token, |_| true),
        "applied, flood to [1] seen !Clark,Jaquez"
    );
}

#[test]
fn a_held_detour_whose_list_is_full_goes_no_further() {
    // Clark: 0 Jaquez, 1 Bona. A full list may have lost names on the way: passing it on
    // again whenever it is held could go round for ever.
    let (clark, _) = herd_node("Clark");
    let at = "AT Bailey +0.100000000 kiwi +1+1 10";
    let names: Vec<String> = (0..MAX_SEEN).map(|i| format!("S{i}")).collect();
    let full = format!("!{}", names.join(","));
    assert_eq!(
        arrive(&clark, 0, at, &full, |_| true),
        format!(
            "applied, flood to [1] seen !Clark,Bona,{}",
            names[..MAX_SEEN - 2].join(",")
        )
    );
    assert_eq!(arrive(&clark, 0, at, &full, |_| true), "held");
    let room = format!("!{}", names[..MAX_SEEN - 1].join(","));
    assert_eq!(
        arrive(&clark, 0, at, &room, |_| true),
        format!(
            "relayed, flood to [1] seen !Clark,Bona,{}",
            names[..MAX_SEEN - 2].join(",")
        )
    );
}
