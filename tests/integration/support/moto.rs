//! A real moto server (the AWS emulator, installed from PyPI by `scripts/test`) on a free
//! loopback port. `MotoServer::start` gives a private server, killed on drop; `moto()` gives
//! exclusive use of one server shared by the whole test binary, reset before each test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_route53::config::Credentials;
use lifeboat::aws::AwsClients;
use lifeboat::config::{AwsConfig, AwsMode};
use tokio::sync::{Mutex, MutexGuard};

pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts moto and waits until it answers. Panics with what to do when moto is missing.
    pub fn start() -> MotoServer {
        Self::start_with_env(&[])
    }

    /// As `start`, with extra environment variables for moto (e.g. `MOTO_ECS_SERVICE_RUNNING`,
    /// which moto reads when a resource is created, to shape what it reports).
    pub fn start_with_env(env: &[(&str, &str)]) -> MotoServer {
        let python = python();
        let port = free_port();
        // moto exits when our end of its stdin closes, so even a server that is never
        // dropped (the shared one) dies with the test process.
        let script = "import os, sys, threading\n\
                      threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n\
                      from moto.server import main\n\
                      main(['-H', '127.0.0.1', '-p', sys.argv[1]])\n";
        let child = Command::new(&python)
            .args(["-c", script, &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start moto with {}: {err}; run scripts/test, which installs it into .venv",
                    python.display()
                )
            });
        let mut server = MotoServer { child, port };
        server.wait_ready();
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `[aws]` section a test config would have to reach this server.
    pub fn aws_config(&self) -> AwsConfig {
        AwsConfig {
            mode: AwsMode::Live,
            endpoint_url: Some(self.endpoint()),
            ..AwsConfig::default()
        }
    }

    /// Real SDK clients, built by Lifeboat's own code, pointed at this server.
    pub async fn clients(&self) -> AwsClients {
        let credentials = Credentials::new("testing", "testing", None, None, "moto");
        AwsClients::connect_with_credentials(&self.aws_config(), credentials).await
    }

    /// Forgets every resource (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let status = http(self.port, "POST", "/moto-api/reset").expect("moto answers reset");
        assert!(
            status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200"),
            "{status}"
        );
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto exited during start-up with {status}");
            }
            if http(self.port, "POST", "/moto-api/reset").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto did not answer on port {} within 30s", self.port);
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Exclusive use of the shared server, freshly reset.
pub async fn moto() -> MutexGuard<'static, MotoServer> {
    static SERVER: OnceLock<Mutex<MotoServer>> = OnceLock::new();
    let guard = SERVER
        .get_or_init(|| Mutex::new(MotoServer::start()))
        .lock()
        .await;
    guard.reset();
    guard
}

fn python() -> PathBuf {
    std::env::var_os("LIFEBOAT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::root().join(".venv/bin/python"))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("bound").port()
}

/// A minimal HTTP/1.1 request; returns the status line.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.lines().next().unwrap_or_default().to_owned())
}
