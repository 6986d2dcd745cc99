//! A bound server: it serves over TCP, refuses a taken address, and stops within its grace
//! period even while a client holds a connection open.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ays_daemon::token::Token;
use ays_daemon::{DaemonConfig, DaemonError, Server};

use crate::{Fixture, TestResult};

/// Serves the fixture's repository on a free loopback port, with a short grace period.
fn config(f: &Fixture) -> Result<DaemonConfig, Box<dyn std::error::Error>> {
    let mut config = DaemonConfig::new(vec![f.t.root().to_path_buf()], f.token.clone());
    config.addr = "127.0.0.1:0".parse()?;
    config.grace = Duration::from_millis(200);
    Ok(config)
}

/// One whole request on its own connection: the answer's status line.
fn status_line(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stops_within_its_grace_period_despite_an_open_connection() -> TestResult {
    let f = Fixture::new()?;
    let server = Server::bind(config(&f)?).await?;
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(server.repositories(), ["repo"]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        // A dropped sender stops the server too.
        let _ = stopped.await;
    }));
    let line = tokio::task::spawn_blocking(move || status_line(addr, "/health")).await??;
    assert_eq!(line, "HTTP/1.1 200 OK");
    // A client that never finishes its request keeps its connection in flight.
    let mut slow = TcpStream::connect(addr)?;
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")?;
    stop.send(()).map_err(|()| "the server stopped early")?;
    let ended = tokio::time::timeout(Duration::from_secs(10), running).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(())))),
        "the server did not stop cleanly within 10 s: {ended:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_taken_address_is_refused() -> TestResult {
    let f = Fixture::new()?;
    let first = Server::bind(config(&f)?).await?;
    let mut second = config(&f)?;
    second.addr = first.local_addr();
    second.token = Token::generate()?;
    match Server::bind(second).await {
        Err(DaemonError::Bind { addr, source }) => {
            assert_eq!(addr, first.local_addr());
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => return Err(format!("expected a bind error, got {other:?}").into()),
    }
    Ok(())
}
