//! Email over SMTP (lettre, rustls), one message to every key client. With a login from the
//! environment, TLS is required (STARTTLS, or implicit TLS on port 465 / `tls = "wrapper"`):
//! a server that does not offer STARTTLS, or a middlebox that strips it, gets nothing, so the
//! password never crosses the wire in clear. Without a login, STARTTLS whenever offered.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::SecretSource;
use crate::config::{EmailConfig, SmtpTls};

/// How sending one email failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// `[comms.email]` names an address, a CA file or a login that cannot be used: no retry
    /// mends it.
    #[error("{0}")]
    Config(String),
    /// The relay could not be reached or failed for now (a 4xx reply, a dropped connection).
    #[error("SMTP {host}:{port} refused or failed: {detail}")]
    Transient {
        host: String,
        port: u16,
        detail: String,
    },
    /// The relay refused the message for good (a 5xx reply), or TLS could not be had.
    #[error("SMTP {host}:{port} refused or failed: {detail}")]
    Refused {
        host: String,
        port: u16,
        detail: String,
    },
}

impl EmailError {
    /// Whether trying again may work.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }
}

/// Builds the message: `from`, the subject, plain text, every key client as a blind copy so
/// no client sees who else is on the list (the envelope still names each one).
pub fn message(cfg: &EmailConfig, subject: &str, body: &str) -> Result<Message, EmailError> {
    let config = EmailError::Config;
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| config(format!("from `{}`: {e}", cfg.from)))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &cfg.recipients {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|e| config(format!("recipient `{to}`: {e}")))?;
        builder = builder.bcc(mailbox);
    }
    builder
        .body(body.to_owned())
        .map_err(|e| config(format!("the email could not be built: {e}")))
}

/// How a connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (SMTPS, port 465).
    Wrapper,
    /// STARTTLS, and nothing is sent when the server does not offer it.
    Required,
    /// STARTTLS when offered, else plain: only ever without a login.
    Opportunistic,
}

/// The encryption `cfg` gets: wrapper when set or on port 465; STARTTLS required with a login
/// or when set; opportunistic only without a login and without a setting.
pub fn tls_mode(cfg: &EmailConfig, has_login: bool) -> TlsMode {
    match cfg.tls {
        Some(SmtpTls::Wrapper) => TlsMode::Wrapper,
        None if cfg.smtp_port == 465 => TlsMode::Wrapper,
        Some(SmtpTls::Starttls) => TlsMode::Required,
        None if has_login => TlsMode::Required,
        None => TlsMode::Opportunistic,
    }
}

/// Sends one message; `Ok` carries the server's answer.
pub async fn send(
    cfg: &EmailConfig,
    secrets: &dyn SecretSource,
    subject: &str,
    body: &str,
) -> Result<String, EmailError> {
    let config = EmailError::Config;
    let message = message(cfg, subject, body)?;
    let mut tls = TlsParameters::builder(cfg.smtp_host.clone());
    if let Some(path) = &cfg.ca_file {
        let pem = tokio::fs::read(path)
            .await
            .map_err(|e| config(format!("ca_file {}: {e}", path.display())))?;
        let root = Certificate::from_pem(&pem).map_err(|e| {
            config(format!(
                "ca_file {} is not a PEM certificate: {e}",
                path.display()
            ))
        })?;
        tls = tls.add_root_certificate(root);
    }
    let tls = tls
        .build_rustls()
        .map_err(|e| config(format!("TLS set-up for {}: {e}", cfg.smtp_host)))?;
    let login = match (&cfg.username_env, &cfg.password_env) {
        (Some(user), Some(pass)) => Some((user, pass)),
        _ => None,
    };
    let mode = tls_mode(cfg, login.is_some());
    let tls = match mode {
        TlsMode::Wrapper => Tls::Wrapper(tls),
        TlsMode::Required => Tls::Required(tls),
        TlsMode::Opportunistic => Tls::Opportunistic(tls),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.smtp_host)
        .port(cfg.smtp_port)
        .tls(tls)
        .timeout(Some(cfg.timeout.get()));
    if let Some((user_env, pass_env)) = login {
        let user = secrets
            .get(user_env)
            .ok_or_else(|| config(format!("{user_env} is not set")))?;
        let pass = secrets
            .get(pass_env)
            .ok_or_else(|| config(format!("{pass_env} is not set")))?;
        builder = builder.credentials(Credentials::new(
            user.expose().to_owned(),
            pass.expose().to_owned(),
        ));
    }
    let transport = builder.build();
    let response = transport.send(message).await.map_err(|e| {
        let why = if mode == TlsMode::Required && !e.is_tls() && e.to_string().contains("STARTTLS")
        {
            " (a login needs TLS and the server did not offer STARTTLS, so nothing was sent)"
        } else {
            ""
        };
        let (host, port, detail) = (cfg.smtp_host.clone(), cfg.smtp_port, format!("{e}{why}"));
        // A permanent (5xx) reply or a TLS failure will be the same next time.
        if e.is_permanent() || e.is_tls() || !why.is_empty() {
            EmailError::Refused { host, port, detail }
        } else {
            EmailError::Transient { host, port, detail }
        }
    })?;
    Ok(format!(
        "{} {}",
        response.code(),
        response.message().collect::<Vec<_>>().join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::HumanDuration;

    #[test]
    fn the_message_names_every_recipient() {
        let cfg = EmailConfig {
            smtp_host: "127.0.0.1".into(),
            smtp_port: 25,
            from: "Status <status@example.com>".into(),
            recipients: vec!["a@client.example".into(), "b@client.example".into()],
            username_env: None,
            password_env: None,
            ca_file: None,
            tls: None,
            timeout: HumanDuration::from_secs(5),
        };
        let m = message(&cfg, "Notice", "Hello").unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            !raw.contains("client.example"),
            "no client sees the others: {raw}"
        );
        assert!(raw.contains("Subject: Notice"), "{raw}");
        assert_eq!(m.envelope().to().len(), 2);
        let mut bad = cfg.clone();
        bad.recipients.push("not an address".into());
        assert!(
            message(&bad, "s", "b")
                .unwrap_err()
                .to_string()
                .contains("not an address")
        );
    }

    #[test]
    fn a_login_always_gets_tls_and_plain_is_only_ever_opportunistic_without_one() {
        let mut cfg = EmailConfig {
            smtp_host: "smtp.example.com".into(),
            smtp_port: 587,
            from: "status@example.com".into(),
            recipients: vec!["a@client.example".into()],
            username_env: Some("U".into()),
            password_env: Some("P".into()),
            ca_file: None,
            tls: None,
            timeout: HumanDuration::from_secs(5),
        };
        assert_eq!(tls_mode(&cfg, true), TlsMode::Required);
        assert_eq!(tls_mode(&cfg, false), TlsMode::Opportunistic);
        cfg.smtp_port = 465;
        assert_eq!(tls_mode(&cfg, true), TlsMode::Wrapper);
        assert_eq!(tls_mode(&cfg, false), TlsMode::Wrapper);
        cfg.smtp_port = 2525;
        cfg.tls = Some(SmtpTls::Wrapper);
        assert_eq!(tls_mode(&cfg, true), TlsMode::Wrapper);
        cfg.tls = Some(SmtpTls::Starttls);
        assert_eq!(tls_mode(&cfg, false), TlsMode::Required);
        assert_eq!(tls_mode(&cfg, true), TlsMode::Required);
    }
}
