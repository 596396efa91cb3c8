//! The line-echo ceiling of `herd bench`, standalone: `cargo run --release --example echo [ADDR]`
//! (default 127.0.0.1:9999). Drive it with `herd bench --target 127.0.0.1:9999 --phases load`.

use std::net::SocketAddr;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9999".into());
    let addr: SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("echo: {addr:?} is not an IP:port address: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = herd::rt::block_on(herd::bench::echo::serve_forever(addr)) {
        eprintln!("echo: cannot listen on {addr}: {e}");
        std::process::exit(1);
    }
}
