//! `usher hash`: the scriptable contract over usher-hash.
//!
//! | command | stdout | exit |
//! |---|---|---|
//! | `identify HASH` | the scheme id | 0; 2 if not recognized |
//! | `verify --hash HASH [--scheme ID]` (password on stdin) | nothing | 0 match, 1 mismatch, 2 malformed or unsupported |
//! | `new` (password on stdin) | an Argon2id PHC string | 0; 2 on error |
//!
//! Errors are one line on stderr. Passwords are read from stdin, never from argv: with one
//! trailing newline removed when piped, or without echo when stdin is a terminal.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use usher_hash::{ParseOptions, Password, PasswordHash, Policy, Scheme};
use zeroize::Zeroizing;

/// Exit code for a hash that is malformed, unsupported or unrecognized, or any other error.
const EXIT_ERROR: u8 = 2;

/// Longest password accepted on stdin.
const MAX_PASSWORD_BYTES: usize = 4096;

#[derive(Subcommand)]
pub enum HashCommand {
    /// Print the scheme id of a stored hash (exit 2 if not recognized).
    Identify {
        /// The stored hash, exactly as the legacy system stores it.
        hash: String,
    },
    /// Verify the password on stdin against a stored hash: exit 0 on a match, 1 on a
    /// mismatch, 2 if the hash is malformed or unsupported.
    Verify {
        /// The stored hash, exactly as the legacy system stores it.
        #[arg(long)]
        hash: String,
        /// Force a scheme id (e.g. `nthash` for 32 hex digits) instead of detecting it.
        #[arg(long, value_name = "ID")]
        scheme: Option<String>,
        /// A file holding the Firebase project's base64 signer key, for encodings that do
        /// not carry it (SuperTokens `$f_scrypt$`).
        #[arg(long, value_name = "PATH")]
        firebase_signer_key_file: Option<PathBuf>,
    },
    /// Hash the password on stdin with Argon2id under the default policy (OWASP: m=19456 KiB,
    /// t=2, p=1) and print the PHC string.
    New {
        /// Memory in KiB.
        #[arg(long, default_value_t = Policy::default().memory_kib)]
        memory_kib: u32,
        /// Passes over memory.
        #[arg(long, default_value_t = Policy::default().iterations)]
        iterations: u32,
        /// Lanes.
        #[arg(long, default_value_t = Policy::default().parallelism)]
        parallelism: u32,
    },
}

/// Runs a `usher hash` subcommand and returns its exit code.
pub fn run(command: HashCommand) -> ExitCode {
    let result = match command {
        HashCommand::Identify { hash } => identify(&hash),
        HashCommand::Verify {
            hash,
            scheme,
            firebase_signer_key_file,
        } => verify(&hash, scheme.as_deref(), firebase_signer_key_file),
        HashCommand::New {
            memory_kib,
            iterations,
            parallelism,
        } => {
            let policy = Policy {
                memory_kib,
                iterations,
                parallelism,
                ..Policy::default()
            };
            new(&policy)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("usher: {}", one_line(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn identify(hash: &str) -> Result<ExitCode> {
    let scheme = usher_hash::identify(hash)?;
    println!("{scheme}");
    Ok(ExitCode::SUCCESS)
}

fn verify(hash: &str, scheme: Option<&str>, signer_key_file: Option<PathBuf>) -> Result<ExitCode> {
    let mut options = ParseOptions::default();
    if let Some(id) = scheme {
        options.scheme = Some(id.parse::<Scheme>()?);
    }
    if let Some(path) = signer_key_file {
        options.firebase_signer_key = Some(read_signer_key(&path)?);
    }
    let parsed = PasswordHash::parse_with(hash, &options)?;
    let password = read_password()?;
    Ok(if parsed.verify(&password)? {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn new(policy: &Policy) -> Result<ExitCode> {
    policy.validate()?;
    let password = read_password()?;
    println!("{}", usher_hash::hash(&password, policy)?);
    Ok(ExitCode::SUCCESS)
}

fn read_signer_key(path: &PathBuf) -> Result<Zeroizing<Vec<u8>>> {
    use base64::Engine as _;
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the signer key file {}", path.display()))?,
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .with_context(|| format!("the signer key in {} is not base64", path.display()))?;
    Ok(Zeroizing::new(key))
}

/// Reads the password from stdin: without echo from a terminal, or all of a pipe with one
/// trailing newline (`\n` or `\r\n`) removed.
fn read_password() -> Result<Password> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let typed = Zeroizing::new(
            rpassword::prompt_password("Password: ").context("reading the password")?,
        );
        return Ok(Password::new(typed.as_bytes().to_vec()));
    }
    // Capacity up front so the buffer never reallocates, which would leave copies behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_PASSWORD_BYTES + 3));
    stdin
        .lock()
        .take(u64::try_from(MAX_PASSWORD_BYTES + 2).unwrap_or(u64::MAX))
        .read_to_end(&mut bytes)
        .context("reading the password from stdin")?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.len() > MAX_PASSWORD_BYTES {
        bail!("the password on stdin is longer than {MAX_PASSWORD_BYTES} bytes");
    }
    Ok(Password::new(std::mem::take(&mut *bytes)))
}
