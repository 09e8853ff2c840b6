//! The `latchkey` binary: parses the command line, loads the configuration and runs the command.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use latchkey::cli::{Cli, Command, ConfigCommand};
use latchkey::{AppState, Settings, log_setup as logging};

/// jemalloc rather than glibc's allocator: glibc keeps an arena per thread (request threads,
/// the database's blocking threads, hash threads), and the key cache's long-lived entries end up
/// scattered among short-lived buffers, which costs memory and, with 100,000 keys in use, time.
/// Its setting (unused pages returned within a second) is built in from `.cargo/config.toml`;
/// docs/deploy.md has the figures.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("latchkey: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("latchkey: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Config(ConfigCommand::Check { connect }) = &cli.command {
        return config_check(cli.config.as_deref(), *connect).await;
    }
    let settings = Settings::load(cli.config.as_deref())?;
    settings.validate()?;
    match cli.command {
        Command::Serve { bind } => {
            let _log = logging::init(&settings.logging);
            serve(settings, cli.config.as_deref(), bind.as_deref()).await?;
        }
        command => {
            // Administrative commands log warnings and errors only, to standard error.
            let mut quiet = settings.logging.clone();
            quiet.filter = "warn".into();
            let _log = logging::init(&quiet);
            latchkey::cli::run(settings, command).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    settings: Settings,
    file: Option<&std::path::Path>,
    bind: Option<&str>,
) -> Result<()> {
    let mut running = settings.clone();
    let state = AppState::open(settings).await?;
    let external = format!(
        "{}://{}",
        state.settings.server.external_scheme, state.settings.server.external_host
    );
    let backends: Vec<_> = state
        .settings
        .auth
        .backends
        .iter()
        .map(|b| b.name())
        .collect();
    let backends = backends.join(", ");
    let db = state.store.kind().name();
    let ldap = state.ldap.as_ref().map(|d| d.config().clone());
    let ldap_listed = state.settings.ldap_enabled();
    let mail = state.mailer.describe().to_owned();
    let file_mail = state.mailer.is_file_transport();
    let server = latchkey::start(state, bind).await?;
    if let Some(cfg) = ldap {
        // In the background: the directory may be slow or briefly down; start-up does not wait.
        latchkey::ldap_check::spawn_startup_check(cfg);
    } else if ldap_listed {
        tracing::info!(
            "auth.backends lists ldap but [ldap] names no servers: only organizations with their own directory settings use LDAP"
        );
    }
    tracing::info!(
        address = %server.addr,
        external_url = %external,
        database = db,
        backends = %backends,
        "latchkey is listening"
    );
    println!(
        "Latchkey listening on http://{} (realm URLs under {external})",
        server.addr
    );
    tracing::info!(mail = %mail, "mail transport");
    if file_mail {
        println!("Mail (password reset links) is written to {mail}, not sent");
    }
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => latchkey::reload::on_hangup(file, &mut running),
        }
    }
    tracing::info!("shutting down");
    server.stop().await;
    Ok(())
}

async fn config_check(file: Option<&std::path::Path>, connect: bool) -> Result<ExitCode> {
    let settings = match Settings::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("latchkey: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    print!("{}", settings.to_masked_toml());
    let problems = settings.problems();
    if !problems.is_empty() {
        eprintln!("\nlatchkey: invalid configuration:");
        for p in problems {
            eprintln!("  - {p}");
        }
        return Ok(ExitCode::FAILURE);
    }
    if settings.ldap_default_configured() {
        if let Ok(cfg) = settings.ldap_config() {
            for w in cfg.warnings() {
                eprintln!("warning: {w}");
            }
        }
    }
    if connect {
        let url = settings.database_url()?;
        let store = auth_store::Store::connect(&url, &auth_store::StoreOptions::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        store.ping().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!("database: connected ({})", store.kind().name());
        if settings.ldap_default_configured() {
            let cfg = settings.ldap_config()?;
            let problems = latchkey::ldap_check::print_check(&cfg)
                .await
                .map_err(|e| anyhow::anyhow!("LDAP: {e}"))?;
            if problems > 0 {
                eprintln!(
                    "\nlatchkey: the directory check found {problems} problem{} (the `ldap: problem:` lines above)",
                    if problems == 1 { "" } else { "s" }
                );
                return Ok(ExitCode::FAILURE);
            }
            // Where linked entries are looked up (root DSE or ldap.link_search_base).
            let dir = auth_ldap::Directory::new(cfg).map_err(|e| anyhow::anyhow!("LDAP: {e}"))?;
            match dir.link_base().await {
                Ok(base) => eprintln!("ldap: linked entries are looked up under {base}"),
                Err(e) => {
                    eprintln!("ldap: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    eprintln!("configuration is valid");
    Ok(ExitCode::SUCCESS)
}
