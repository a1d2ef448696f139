//! Outgoing e-mail. With `smtp_url` set, mail goes through SMTP (lettre, rustls); otherwise into
//! the outbox folder under the data directory, one `.eml` file per message, and the log, so a
//! demo works without a mail server.

use std::path::PathBuf;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;

enum Transport {
    Outbox(AsyncFileTransport<Tokio1Executor>, PathBuf),
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("configuration: smtp_url: {0}")]
    Config(String),
    #[error("cannot create the mail outbox {0}: {1}")]
    Outbox(String, std::io::Error),
    #[error("`{0}` is not a deliverable address")]
    Address(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("sending failed: {0}")]
    Send(String),
}

/// One plain-text message.
pub struct Mail {
    pub to_name: String,
    pub to_address: String,
    pub subject: String,
    pub body: String,
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Mailer, MailError> {
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(Box::new(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailError::Config(e.to_string()))?
                    .build(),
            )),
            None => {
                let dir = config.data_dir.join("outbox");
                let mut builder = std::fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder
                    .create(&dir)
                    .map_err(|e| MailError::Outbox(dir.display().to_string(), e))?;
                Transport::Outbox(AsyncFileTransport::new(&dir), dir)
            }
        };
        Ok(Mailer {
            transport,
            from: config.mail_from.clone(),
        })
    }

    pub async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let address = mail
            .to_address
            .parse()
            .map_err(|_| MailError::Address(mail.to_address.clone()))?;
        let to = Mailbox::new(Some(mail.to_name.clone()), address);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message)
                    .await
                    .map_err(|e| MailError::Send(e.to_string()))?;
            }
            Transport::Outbox(file, dir) => {
                let id = file
                    .send(message)
                    .await
                    .map_err(|e| MailError::Send(e.to_string()))?;
                // The outbox is for development and demos: the log shows the message too.
                tracing::info!(
                    to = %mail.to_address,
                    subject = %mail.subject,
                    file = %dir.join(format!("{id}.eml")).display(),
                    body = %mail.body,
                    "mail written to the outbox (set smtp_url to send real mail)"
                );
            }
        }
        Ok(())
    }
}
