//! The torchrun-style NCCL rendezvous over loopback, between real processes
//! that touch no GPU: this test binary runs itself as the other ranks.

use std::process::Command;
use std::time::Duration;

use arc_core::distributed::rendezvous::{ID_BYTES, fetch, serve};

const CHILD: &str = "ARC_RENDEZVOUS_CHILD_RANK";

#[test]
fn three_processes_get_rank_zeros_id() {
    if let Ok(rank) = std::env::var(CHILD) {
        // A child: fetch the id and print it.
        let addr = std::env::var("ARC_RENDEZVOUS_ADDR").expect("the parent sets it");
        let id = fetch(&addr, rank.parse().expect("a rank"), Duration::from_secs(30)).expect("rank 0 answers");
        println!("\nid={}", id.iter().map(|b| format!("{b:02x}")).collect::<String>());
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("bound").to_string();
    let children: Vec<_> = (1..3)
        .map(|rank| {
            Command::new(std::env::current_exe().expect("this test binary"))
                .args(["--exact", "three_processes_get_rank_zeros_id", "--nocapture", "--test-threads=1"])
                .env(CHILD, rank.to_string())
                .env("ARC_RENDEZVOUS_ADDR", &addr)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("a child process")
        })
        .collect();
    let id: [u8; ID_BYTES] = std::array::from_fn(|i| (i * 7 + 3) as u8);
    serve(listener, 3, &id, Duration::from_secs(30)).expect("both ranks fetch");
    let want = format!("id={}", id.iter().map(|b| format!("{b:02x}")).collect::<String>());
    for child in children {
        let out = child.wait_with_output().expect("the child ends");
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).lines().any(|l| l == want),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn a_rank_that_never_comes_is_named_after_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("bound").to_string();
    let peer = std::thread::spawn(move || fetch(&addr, 2, Duration::from_secs(5)));
    let err = serve(listener, 4, &[0; ID_BYTES], Duration::from_millis(500)).unwrap_err().to_string();
    assert!(err.starts_with("distributed (rendezvous): 127.0.0.1:"), "{err}");
    assert!(err.ends_with("ranks 1, 3 did not connect within 0s"), "{err}");
    assert!(peer.join().expect("no panic").is_ok(), "rank 2 was served");
}

#[test]
fn no_rank_zero_is_an_error_after_the_timeout_not_a_hang() {
    // A port nobody listens on: bind one, then let it go.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").to_string();
    let err = fetch(&addr, 1, Duration::from_millis(300)).unwrap_err().to_string();
    assert!(err.starts_with(&format!("distributed (rendezvous): rank 0 at {addr} did not answer within 0s")), "{err}");
}

#[test]
fn a_rank_outside_the_world_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("bound").to_string();
    let peer = std::thread::spawn(move || fetch(&addr, 5, Duration::from_secs(5)));
    let err = serve(listener, 2, &[0; ID_BYTES], Duration::from_secs(5)).unwrap_err().to_string();
    assert!(err.contains("says rank 5, but the world has 2"), "{err}");
    assert!(peer.join().expect("no panic").is_err(), "the peer gets no id");
}
