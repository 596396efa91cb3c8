//! Any bytes as one server-to-server line: the decoder never panics, and whatever it accepts
//! encodes back to a line that decodes to the same message. An UPDATE's AT line goes through
//! the same parser a live link uses.
#![no_main]

use herd::state::Update;
use herd::wire::{decode, encode, PeerMsg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    if let Some(msg) = decode(line) {
        if let PeerMsg::Update { at, .. } = &msg {
            let _ = Update::from_at_line(at);
        }
        let mut out = Vec::new();
        encode(&msg, &mut out);
        assert_eq!(decode(&out[..out.len() - 1]), Some(msg));
    }
});
