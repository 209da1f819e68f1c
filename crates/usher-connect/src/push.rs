//! `usher export --push`: the import files an export wrote, sent to the provider's import API,
//! with every user's fate recorded ([`push`]).
//!
//! * **Paced** to the provider's rate limit ([`PushConfig::rate`] requests a second), and a
//!   `429` or `503` waits as long as its `Retry-After` (or Okta's `X-Rate-Limit-Reset`, Auth0's
//!   `X-RateLimit-Reset`) asks, within the one retry policy.
//! * **Per user.** A conflict (the user exists already) or a refusal costs that user only: it
//!   is recorded against them and the rest go on. Where the provider's import is
//!   all-or-nothing (FusionAuth), the batch is split in halves until the refused user stands
//!   alone; where it names the refused users (SuperTokens), the others are sent again.
//! * **Idempotent and resumable.** Each fate is appended to `<target>-push-log.jsonl` and
//!   synced before the next request, and a run skips the users the log holds. An Auth0 job is
//!   logged when it is submitted, so a resumed run waits for that job instead of submitting the
//!   file again. A user created just before a kill, and not yet logged, comes back as
//!   `exists`: providers refuse a second user with the same id or email.
//!
//! | target | request | a user's fate |
//! |---|---|---|
//! | `auth0` | `POST /api/v2/jobs/users-imports` (multipart: `users`, `connection_id`), then `GET /api/v2/jobs/{id}` until done and `GET /api/v2/jobs/{id}/errors` | a `DUPLICATED_USER` or `CONFLICT*` error is `exists`, another is `refused` |
//! | `okta` | `POST /api/v1/users?activate=true`, one a user, `Authorization: SSWS` | `400` `E0000001` "already exists" is `exists` |
//! | `kratos` | `PATCH /admin/identities`, a file a request | each `identities[]` entry: `create`, or `error` (`409` is `exists`) |
//! | `fusionauth` | `POST /api/user/import`, a file a request, `validateDbConstraints` | `200` all created; a `400` splits the batch; alone, `[duplicate]` is `exists` |
//! | `supertokens` | `POST /bulk-import/users`, a file a request, `api-key` | `200` all queued; a `400` names users by `index`, the rest are sent again |
//! | `clerk` | `POST /v1/users`, one a user, bearer | `422` `form_identifier_exists` is `exists` |
//! | `supabase` | `POST /auth/v1/admin/users`, one a user, service role key | `422` `email_exists`/`phone_exists`/`user_already_exists` is `exists` |

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use usher_runtime::{Pacer, Retry, RetryPolicy};
use zeroize::Zeroizing;

/// Where and how to push.
#[derive(Clone)]
pub struct PushConfig {
    /// The provider's base URL (`https://example.okta.com`, `https://api.clerk.com`).
    pub url: String,
    /// The API token, key or service-role key.
    pub token: Zeroizing<String>,
    /// Requests a second.
    pub rate: NonZeroU32,
    /// Auth0's database connection.
    pub connection_id: Option<String>,
    /// Each request's time limit.
    pub timeout: Duration,
    /// How long to wait for an Auth0 job, polling.
    pub job_poll: Duration,
}

impl std::fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConfig")
            .field("url", &usher_core::redact_url(&self.url))
            .field("token", &"[redacted]")
            .field("rate", &self.rate)
            .field("connection_id", &self.connection_id)
            .finish_non_exhaustive()
    }
}

/// Why a push stopped.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The provider could not be reached, or kept answering 429 or 5xx.
    #[error("{target} is unavailable: {reason}")]
    Unavailable {
        /// The target.
        target: &'static str,
        /// What failed (never the token).
        reason: String,
    },
    /// The provider refused the request as a whole (bad token, unknown connection).
    #[error("{target} refused the push: {reason}")]
    Refused {
        /// The target.
        target: &'static str,
        /// Its answer.
        reason: String,
    },
    /// The export's directory could not be read or the log written.
    #[error("{0}")]
    Io(String),
    /// The target has no import API usher pushes to.
    #[error("{0} has no import API usher pushes to; import its files by hand (docs/providers.md)")]
    NoApi(String),
}

/// A user's fate in the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "fate", content = "reason")]
pub enum Fate {
    /// Created (or queued, for SuperTokens).
    Imported,
    /// The provider holds this user already (same id, email or username).
    Exists(String),
    /// The provider refused this user.
    Refused(String),
}

impl Fate {
    fn label(&self) -> &'static str {
        match self {
            Fate::Imported => "imported",
            Fate::Exists(_) => "exists",
            Fate::Refused(_) => "refused",
        }
    }
}

/// One line of the push log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum LogLine {
    User {
        key: String,
        #[serde(flatten)]
        fate: Fate,
    },
    Job {
        file: String,
        job: String,
    },
}

/// What a push did, over all its runs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// Users by fate (`imported`, `exists`, `refused`).
    pub fates: BTreeMap<String, u64>,
    /// The log, every user's fate with the reason.
    pub log: PathBuf,
    /// The users the provider holds now (`imported` or `exists`), over all runs: each file's
    /// name and the positions of those users in it.
    pub placed: Vec<(String, Vec<usize>)>,
}

/// The provider's answer to one request, for each of its users: a fate, or `None` to send
/// them again (SuperTokens refuses a whole request for some of its users).
enum Answer {
    Fates(Vec<Option<Fate>>),
    /// The import is all-or-nothing and refused: split the batch.
    Split(String),
}

/// A provider's import API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Auth0,
    Okta,
    Kratos,
    FusionAuth,
    SuperTokens,
    Clerk,
    Supabase,
}

impl Api {
    fn of(target: &str) -> Option<Api> {
        Some(match target {
            "auth0" => Api::Auth0,
            "okta" => Api::Okta,
            "kratos" => Api::Kratos,
            "fusionauth" => Api::FusionAuth,
            "supertokens" => Api::SuperTokens,
            "clerk" => Api::Clerk,
            "supabase" => Api::Supabase,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Api::Auth0 => "auth0",
            Api::Okta => "okta",
            Api::Kratos => "kratos",
            Api::FusionAuth => "fusionauth",
            Api::SuperTokens => "supertokens",
            Api::Clerk => "clerk",
            Api::Supabase => "supabase",
        }
    }

    /// Whether each user is a request of its own.
    fn per_user(self) -> bool {
        matches!(self, Api::Okta | Api::Clerk | Api::Supabase)
    }

    /// The records of one import file, as the export wrote it.
    fn records(self, bytes: &[u8]) -> Result<Vec<Value>, String> {
        let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).map_err(|e| e.to_string());
        match self {
            Api::Okta | Api::Clerk | Api::Supabase => bytes
                .split(|b| *b == b'\n')
                .filter(|line| !line.is_empty())
                .map(parse)
                .collect(),
            Api::Auth0 => Ok(parse(bytes)?.as_array().cloned().unwrap_or_default()),
            Api::Kratos => Ok(list(&parse(bytes)?, "identities")),
            Api::FusionAuth | Api::SuperTokens => Ok(list(&parse(bytes)?, "users")),
        }
    }

    /// The user a record is, in the log.
    fn key(self, record: &Value) -> String {
        let text = |pointer: &str| record.pointer(pointer).and_then(Value::as_str);
        let key = match self {
            Api::Auth0 => text("/user_id").or_else(|| text("/email")),
            Api::Okta => text("/profile/login"),
            Api::Kratos => text("/patch_id"),
            Api::FusionAuth | Api::Supabase => text("/id"),
            Api::SuperTokens | Api::Clerk => {
                text("/externalUserId").or_else(|| text("/external_id"))
            }
        };
        key.map_or_else(|| record.to_string(), str::to_owned)
    }

    /// The request for `records` (one, for a per-user API).
    fn request(
        self,
        client: &reqwest::Client,
        config: &PushConfig,
        records: &[Value],
    ) -> Result<reqwest::RequestBuilder, PushError> {
        let base = config.url.trim_end_matches('/');
        let token = config.token.as_str();
        let one = records.first().cloned().unwrap_or(Value::Null);
        Ok(match self {
            Api::Okta => client
                .post(format!("{base}/api/v1/users?activate=true"))
                .header("Authorization", format!("SSWS {token}"))
                .json(&one),
            Api::Clerk => client
                .post(format!("{base}/v1/users"))
                .bearer_auth(token)
                .json(&one),
            Api::Supabase => client
                .post(format!("{base}/auth/v1/admin/users"))
                .bearer_auth(token)
                .header("apikey", token)
                .json(&one),
            Api::Kratos => client
                .request(Method::PATCH, format!("{base}/admin/identities"))
                .bearer_auth(token)
                .json(&json!({ "identities": records })),
            Api::FusionAuth => client
                .post(format!("{base}/api/user/import"))
                .header("Authorization", token)
                .json(&json!({ "users": records, "validateDbConstraints": true })),
            Api::SuperTokens => client
                .post(format!("{base}/bulk-import/users"))
                .header("api-key", token)
                .json(&json!({ "users": records })),
            Api::Auth0 => {
                let connection =
                    config
                        .connection_id
                        .clone()
                        .ok_or_else(|| PushError::Refused {
                            target: "auth0",
                            reason: "[push.auth0].connection_id is required".to_owned(),
                        })?;
                let file = reqwest::multipart::Part::bytes(
                    serde_json::to_vec(records).unwrap_or_default(),
                )
                .file_name("users.json")
                .mime_str("application/json")
                .map_err(|e| PushError::Io(e.to_string()))?;
                let form = reqwest::multipart::Form::new()
                    .part("users", file)
                    .text("connection_id", connection)
                    .text("upsert", "false");
                client
                    .post(format!("{base}/api/v2/jobs/users-imports"))
                    .bearer_auth(token)
                    .multipart(form)
            }
        })
    }

    /// Reads a (non-429, non-5xx) answer to `records`.
    fn answer(self, status: StatusCode, body: &Value, records: &[Value]) -> Result<Answer, String> {
        let all = |fate: Fate| Answer::Fates(vec![Some(fate); records.len()]);
        let message = || body_message(body);
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(format!("{status}: {}", message()));
        }
        Ok(match self {
            Api::Okta | Api::Clerk | Api::Supabase => {
                if status.is_success() {
                    all(Fate::Imported)
                } else if self.is_conflict(status, body) {
                    all(Fate::Exists(message()))
                } else {
                    all(Fate::Refused(format!("{status}: {}", message())))
                }
            }
            Api::Kratos if status.is_success() => {
                let answers = list(body, "identities");
                Answer::Fates(
                    records
                        .iter()
                        .enumerate()
                        .map(|(i, record)| {
                            let patch = record.get("patch_id");
                            let answer = answers
                                .iter()
                                .find(|a| patch.is_some() && a.get("patch_id") == patch)
                                .or_else(|| answers.get(i))?;
                            Some(match answer.get("action").and_then(Value::as_str) {
                                Some("create") => Fate::Imported,
                                _ => {
                                    let error = answer.get("error").cloned().unwrap_or_default();
                                    let why = body_message(&error);
                                    if error.get("code").and_then(Value::as_u64) == Some(409) {
                                        Fate::Exists(why)
                                    } else {
                                        Fate::Refused(why)
                                    }
                                }
                            })
                        })
                        .collect(),
                )
            }
            Api::FusionAuth if status.is_success() => all(Fate::Imported),
            Api::FusionAuth if records.len() > 1 => Answer::Split(message()),
            Api::FusionAuth => {
                if body.to_string().contains("[duplicate]") {
                    all(Fate::Exists(message()))
                } else {
                    all(Fate::Refused(format!("{status}: {}", message())))
                }
            }
            Api::SuperTokens if status.is_success() => all(Fate::Imported),
            Api::SuperTokens if status == StatusCode::BAD_REQUEST => {
                let mut fates: Vec<Option<Fate>> = vec![None; records.len()];
                for user in list(body, "users") {
                    let index = user.get("index").and_then(Value::as_u64);
                    let why = list(&user, "errors")
                        .iter()
                        .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join("; ");
                    let fate = if why.contains("already exists") {
                        Fate::Exists(why)
                    } else {
                        Fate::Refused(why)
                    };
                    if let Some(slot) = index
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| fates.get_mut(i))
                    {
                        *slot = Some(fate);
                    }
                }
                if fates.iter().all(Option::is_none) {
                    return Err(format!("{status}: {}", message()));
                }
                Answer::Fates(fates)
            }
            Api::Kratos | Api::SuperTokens | Api::Auth0 => {
                return Err(format!("{status}: {}", message()));
            }
        })
    }

    fn is_conflict(self, status: StatusCode, body: &Value) -> bool {
        let text = body.to_string();
        match self {
            Api::Okta => {
                status == StatusCode::BAD_REQUEST
                    && body.get("errorCode").and_then(Value::as_str) == Some("E0000001")
                    && text.contains("already exists")
            }
            Api::Clerk => {
                status == StatusCode::UNPROCESSABLE_ENTITY
                    && text.contains("form_identifier_exists")
            }
            Api::Supabase => {
                status == StatusCode::UNPROCESSABLE_ENTITY
                    && ["email_exists", "phone_exists", "user_already_exists"]
                        .iter()
                        .any(|code| body.get("error_code").and_then(Value::as_str) == Some(code))
            }
            _ => false,
        }
    }
}

/// `value[key]` as a list (empty if missing).
fn list(value: &Value, key: &str) -> Vec<Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The human part of a provider's error body.
fn body_message(body: &Value) -> String {
    for pointer in [
        "/errorSummary",
        "/errors/0/long_message",
        "/errors/0/message",
        "/msg",
        "/message",
        "/error/message",
        "/reason",
        "/error",
    ] {
        if let Some(text) = body.pointer(pointer).and_then(Value::as_str) {
            return text.chars().take(300).collect();
        }
    }
    body.to_string().chars().take(300).collect()
}

/// The pause a 429 or 503 asks for: `Retry-After` seconds, else a reset time in epoch
/// seconds (Okta's `X-Rate-Limit-Reset`, Auth0's `X-RateLimit-Reset`).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(seconds) = number("retry-after") {
        return Some(Duration::from_secs(seconds));
    }
    let reset = number("x-rate-limit-reset").or_else(|| number("x-ratelimit-reset"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

/// The most of an answer usher reads: a provider's answer to one request (Auth0's job errors
/// for a 500 KB file are the largest) is far smaller.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// The answer's body, read up to [`MAX_ANSWER_BYTES`]; a longer one is refused, not read.
async fn bounded_body(mut response: reqwest::Response) -> Result<Vec<u8>, Failed> {
    let too_long = || Failed {
        retry: Retry::Stop,
        reason: format!("an answer over {MAX_ANSWER_BYTES} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_long());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Failed {
        retry: Retry::Again,
        reason: e.without_url().to_string(),
    })? {
        if body.len().saturating_add(chunk.len()) > MAX_ANSWER_BYTES {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failed attempt: worth trying again (after this long, if the provider said), or final.
#[derive(Debug)]
struct Failed {
    retry: Retry,
    reason: String,
}

fn count(fates: &mut BTreeMap<String, u64>, fate: &Fate) {
    let n = fates.entry(fate.label().to_owned()).or_insert(0);
    *n = n.saturating_add(1);
}

/// The push's log: what is done, and the appender.
struct Log {
    path: PathBuf,
    file: std::fs::File,
    /// Each decided user's fate label, by key.
    done: HashMap<String, &'static str>,
    jobs: BTreeMap<String, String>,
    fates: BTreeMap<String, u64>,
}

impl Log {
    fn open(path: PathBuf) -> Result<Self, PushError> {
        let io = |e: std::io::Error| PushError::Io(format!("{}: {e}", path.display()));
        let mut done = HashMap::new();
        let mut jobs = BTreeMap::new();
        let mut fates = BTreeMap::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                // A line cut short by a kill is the last one; it is sent again.
                for line in text.lines() {
                    match serde_json::from_str::<LogLine>(line) {
                        Ok(LogLine::User { key, fate }) => {
                            if done.insert(key, fate.label()).is_none() {
                                count(&mut fates, &fate);
                            }
                        }
                        Ok(LogLine::Job { file, job }) => {
                            jobs.insert(file, job);
                        }
                        Err(_) => {}
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        Ok(Self {
            path,
            file,
            done,
            jobs,
            fates,
        })
    }

    fn write(&mut self, lines: &[LogLine]) -> Result<(), PushError> {
        let mut text = Vec::new();
        for line in lines {
            serde_json::to_writer(&mut text, line).map_err(|e| PushError::Io(e.to_string()))?;
            text.push(b'\n');
        }
        let path = &self.path;
        let io = |e: std::io::Error| PushError::Io(format!("{}: {e}", path.display()));
        self.file.write_all(&text).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        for line in lines {
            if let LogLine::User { key, fate } = line
                && self.done.insert(key.clone(), fate.label()).is_none()
            {
                count(&mut self.fates, fate);
            }
        }
        Ok(())
    }
}

struct Pusher<'a> {
    api: Api,
    config: &'a PushConfig,
    client: reqwest::Client,
    pacer: Pacer,
    policy: RetryPolicy,
}

impl Pusher<'_> {
    /// Sends one request for `records` with the one retry policy, pacing each attempt.
    async fn send(
        &self,
        records: &[Value],
        method_url: Option<&str>,
    ) -> Result<(StatusCode, Value), PushError> {
        let target = self.api.name();
        let attempt = || async {
            self.pacer.take(1).await;
            let request = match method_url {
                Some(url) => self.client.get(url).bearer_auth(self.config.token.as_str()),
                None => self
                    .api
                    .request(&self.client, self.config, records)
                    .map_err(|e| Failed {
                        retry: Retry::Stop,
                        reason: e.to_string(),
                    })?,
            };
            let response = request.send().await.map_err(|e| Failed {
                retry: Retry::Again,
                reason: e.without_url().to_string(),
            })?;
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                let wait = retry_after(response.headers());
                return Err(Failed {
                    retry: wait.map_or(Retry::Again, Retry::After),
                    reason: status.to_string(),
                });
            }
            let bytes = bounded_body(response).await?;
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&bytes).chars().take(300).collect())
                })
            };
            Ok((status, body))
        };
        self.policy
            .run(attempt, |f: &Failed| f.retry, |f, n, pause| {
                tracing::warn!(target = target, attempt = n, ?pause, reason = %f.reason, "push: trying again");
            })
            .await
            .map_err(|gave_up| {
                let failed = gave_up.into_error();
                match failed.retry {
                    Retry::Stop => PushError::Refused {
                        target,
                        reason: failed.reason,
                    },
                    _ => PushError::Unavailable {
                        target,
                        reason: failed.reason,
                    },
                }
            })
    }

    /// The fates of `records`, sending again those the provider left undecided and splitting
    /// an all-or-nothing batch it refused.
    async fn fates(&self, records: Vec<Value>) -> Result<Vec<(Value, Fate)>, PushError> {
        let mut out = Vec::new();
        let mut pending = vec![records];
        let mut rounds = 0u32;
        while let Some(batch) = pending.pop() {
            if batch.is_empty() {
                continue;
            }
            rounds = rounds.saturating_add(1);
            if rounds > 10_000 {
                return Err(PushError::Refused {
                    target: self.api.name(),
                    reason: "the provider keeps leaving users undecided".to_owned(),
                });
            }
            let (status, body) = self.send(&batch, None).await?;
            let answer =
                self.api
                    .answer(status, &body, &batch)
                    .map_err(|reason| PushError::Refused {
                        target: self.api.name(),
                        reason,
                    })?;
            match answer {
                Answer::Fates(fates) => {
                    let mut again = Vec::new();
                    for (record, fate) in batch
                        .into_iter()
                        .zip(fates.into_iter().chain(std::iter::repeat(None)))
                    {
                        match fate {
                            Some(fate) => out.push((record, fate)),
                            None => again.push(record),
                        }
                    }
                    pending.push(again);
                }
                Answer::Split(why) => {
                    tracing::debug!(target = self.api.name(), size = batch.len(), %why, "push: splitting a refused batch");
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    pending.push(second);
                    pending.push(first);
                }
            }
        }
        Ok(out)
    }

    /// Auth0: submits `file`'s users as a job (or finds the job a killed run submitted), waits
    /// for it, and reads its per-user errors.
    async fn auth0_job(
        &self,
        file: &str,
        records: &[Value],
        log: &mut Log,
    ) -> Result<Vec<(Value, Fate)>, PushError> {
        let base = self.config.url.trim_end_matches('/');
        let refused = |reason: String| PushError::Refused {
            target: "auth0",
            reason,
        };
        let job = match log.jobs.get(file) {
            Some(job) => job.clone(),
            None => {
                let (status, body) = self.send(records, None).await?;
                if !status.is_success() {
                    return Err(refused(format!("{status}: {}", body_message(&body))));
                }
                let job = body
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| refused("the job has no id".to_owned()))?
                    .to_owned();
                log.write(&[LogLine::Job {
                    file: file.to_owned(),
                    job: job.clone(),
                }])?;
                log.jobs.insert(file.to_owned(), job.clone());
                job
            }
        };
        let started = std::time::Instant::now();
        loop {
            let (status, body) = self
                .send(&[], Some(&format!("{base}/api/v2/jobs/{job}")))
                .await?;
            if !status.is_success() {
                return Err(refused(format!(
                    "job {job}: {status}: {}",
                    body_message(&body)
                )));
            }
            match body.get("status").and_then(Value::as_str) {
                Some("completed") => break,
                Some("failed") => {
                    return Err(refused(format!(
                        "job {job} failed: {}",
                        body_message(&body)
                    )));
                }
                _ if started.elapsed() > Duration::from_secs(2 * 3600) => {
                    return Err(refused(format!(
                        "job {job} did not finish within Auth0's 2 hours"
                    )));
                }
                _ => tokio::time::sleep(self.config.job_poll).await,
            }
        }
        let (status, body) = self
            .send(&[], Some(&format!("{base}/api/v2/jobs/{job}/errors")))
            .await?;
        let mut failures: BTreeMap<String, Fate> = BTreeMap::new();
        if status == StatusCode::OK {
            for entry in body.as_array().cloned().unwrap_or_default() {
                let user = entry.get("user").cloned().unwrap_or_default();
                let errors = list(&entry, "errors");
                let why = errors
                    .iter()
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e.get("code").and_then(Value::as_str).unwrap_or("ERROR"),
                            e.get("message").and_then(Value::as_str).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let conflict = errors.iter().any(|e| {
                    e.get("code")
                        .and_then(Value::as_str)
                        .is_some_and(|c| c == "DUPLICATED_USER" || c.starts_with("CONFLICT"))
                });
                let fate = if conflict {
                    Fate::Exists(why)
                } else {
                    Fate::Refused(why)
                };
                failures.insert(Api::Auth0.key(&user), fate);
            }
        }
        Ok(records
            .iter()
            .map(|r| {
                let fate = failures
                    .remove(&Api::Auth0.key(r))
                    .unwrap_or(Fate::Imported);
                (r.clone(), fate)
            })
            .collect())
    }
}

/// The records of the import file `name` in `dir`.
fn read_records(api: Api, dir: &Path, name: &str) -> Result<Vec<Value>, PushError> {
    let path = dir.join(name);
    let io = |e: String| PushError::Io(format!("{}: {e}", path.display()));
    let bytes = std::fs::read(&path).map_err(|e| io(e.to_string()))?;
    api.records(&bytes).map_err(io)
}

/// Pushes `files` (in `dir`, as `target`'s export wrote them) to the provider. `progress` is
/// told of each user decided.
pub async fn push(
    target: &str,
    dir: &Path,
    files: &[String],
    config: &PushConfig,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<PushReport, PushError> {
    let api = Api::of(target).ok_or_else(|| PushError::NoApi(target.to_owned()))?;
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .map_err(|e| PushError::Io(e.to_string()))?;
    let pusher = Pusher {
        api,
        config,
        client,
        pacer: Pacer::new(config.rate, config.rate),
        policy: RetryPolicy {
            attempts: 8,
            first: Duration::from_millis(500),
            max: Duration::from_secs(60),
            jitter: Duration::from_millis(250),
        },
    };
    let mut log = Log::open(dir.join(format!("{target}-push-log.jsonl")))?;
    for name in files {
        let records: Vec<Value> = read_records(api, dir, name)?
            .into_iter()
            .filter(|r| !log.done.contains_key(&api.key(r)))
            .collect();
        if records.is_empty() {
            continue;
        }
        let groups: Vec<Vec<Value>> = if api.per_user() {
            records.into_iter().map(|r| vec![r]).collect()
        } else {
            vec![records]
        };
        for group in groups {
            let fates = match api {
                Api::Auth0 => pusher.auth0_job(name, &group, &mut log).await?,
                _ => pusher.fates(group).await?,
            };
            let lines: Vec<LogLine> = fates
                .into_iter()
                .map(|(record, fate)| LogLine::User {
                    key: api.key(&record),
                    fate,
                })
                .collect();
            log.write(&lines)?;
            progress(u64::try_from(lines.len()).unwrap_or(u64::MAX));
        }
    }
    let mut placed = Vec::new();
    for name in files {
        let held: Vec<usize> = read_records(api, dir, name)?
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(log.done.get(&api.key(r)), Some(&"imported" | &"exists")))
            .map(|(i, _)| i)
            .collect();
        placed.push((name.clone(), held));
    }
    Ok(PushReport {
        fates: log.fates.clone(),
        log: log.path.clone(),
        placed,
    })
}
