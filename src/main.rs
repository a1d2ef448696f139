//! The `latchkey` binary: parse the command line and configuration, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use latchkey::cli::{self, Cli, Command};
use latchkey::config::{Config, LogFormat};

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

fn main() -> ExitCode {
    let args = Cli::parse();
    let config = match Config::from_process_env(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let result = match args.command {
            Command::Serve { demo } => {
                latchkey::server::serve(config, demo, latchkey::server::shutdown_signal())
                    .await
                    .map(|()| None)
            }
            command => cli::run(command, config).await.map(Some),
        };
        match result {
            Ok(None) => ExitCode::SUCCESS,
            Ok(Some(out)) => {
                if out.json {
                    println!("{}", out.value);
                } else if !out.text.is_empty() {
                    println!("{}", out.text);
                }
                if out.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}
