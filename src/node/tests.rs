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
        "accepted, flood to [0, 1] seen Clark,Bona,Jaquez",
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
        "accepted, flood to [0, 1] seen Clark,Bona,Jaquez",
    );
    check(
        &n,
        "IAMAT c +1+1 1",
        "1",
        "AT Clark +0.000000000 c +1+1 1\n",
        "accepted, flood to [0, 1] seen Clark,Bona,Jaquez",
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
    match n.neighbour_update(i, at.as_bytes(), seen.as_bytes()) {
        FromNeighbour::Applied(e) => {
            let (to, seen) = n.forward(&e.flood, |_| true);
            format!(
                "applied, flood to {to:?} seen {}",
                String::from_utf8_lossy(&seen)
            )
        }
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
    assert_eq!(from(&n, 0, new), "applied, flood to [1] seen Clark,Jaquez");
    assert_eq!(from(&n, 1, new), "held");
    assert_eq!(
        from(&n, 1, "AT Jaquez +0.100000000 kiwi +1+1 9"),
        "not newer"
    );
    assert_eq!(
        from(&n, 1, "AT Jaquez +0.100000000 kiwi +1+1 11"),
        "applied, flood to [0] seen Clark,Bona"
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
        "applied, flood to [] seen Bona,Jaquez"
    );
    // Sent only to Clark so far: Jaquez gets it, told that Jaquez, Bona and Clark have it
    // (the names this server adds come first).
    assert_eq!(
        from_seen(&n, 0, "AT Bona +0.100000000 kiwi +1+1 11", "Bona,Clark"),
        "applied, flood to [1] seen Jaquez,Bona,Clark"
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
    assert_eq!((to, &*seen), (vec![1], &b"Clark,Jaquez"[..]));
    // At most MAX_SEEN names travel: a shorter list only costs copies. The names this server
    // adds (itself, Jaquez) are kept; the oldest ones it was given are dropped.
    let many: Vec<String> = (0..crate::wire::MAX_SEEN)
        .map(|i| format!("S{i}"))
        .collect();
    let out = from_seen(&n, 0, "AT Bona +0.100000000 kiwi +1+1 12", &many.join(","));
    let kept = many[..crate::wire::MAX_SEEN - 2].join(",");
    assert_eq!(
        out,
        format!("applied, flood to [1] seen Clark,Jaquez,{kept}")
    );
}

#[test]
fn forward_decisions_are_reused_only_for_the_same_list_sender_and_links() {
    let n = node();
    let flood = |seen: &[u8], except| Flood {
        except,
        seen: n.seen_lists.get(|out| out.extend_from_slice(seen)),
    };
    let names = |(to, seen): (Vec<usize>, Seen)| (to, String::from_utf8_lossy(&seen).into_owned());
    let from_client = Flood::from_client();
    assert_eq!(
        names(n.forward(&from_client, |_| true)),
        (vec![0, 1], "Clark,Bona,Jaquez".into())
    );
    // The same list with a link down, then up again: each answer follows the links.
    assert_eq!(
        names(n.forward(&from_client, |i| i == 1)),
        (vec![1], "Clark,Jaquez".into())
    );
    assert_eq!(
        names(n.forward(&from_client, |_| true)),
        (vec![0, 1], "Clark,Bona,Jaquez".into())
    );
    // Another sender, another list.
    assert_eq!(
        names(n.forward(&flood(b"Bona", Some(0)), |_| true)),
        (vec![1], "Clark,Jaquez,Bona".into())
    );
    assert_eq!(
        names(n.forward(&flood(b"Bona,Jaquez", Some(0)), |_| true)),
        (vec![], "Bona,Jaquez".into())
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
