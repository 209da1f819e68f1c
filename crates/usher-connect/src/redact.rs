//! Connection strings without their secrets, for logs and errors.

/// The URL with its password replaced by `***`: the `user:password@` part of the authority and
/// any `password=` parameter (URL query or `key=value` connection string). Anything that is not
/// a URL is scanned for `password=` only.
///
/// ```
/// use usher_connect::redact_url;
///
/// assert_eq!(
///     redact_url("postgres://app:s3cret@db:5432/users?sslmode=require"),
///     "postgres://app:***@db:5432/users?sslmode=require"
/// );
/// assert_eq!(redact_url("mysql://app@db/users"), "mysql://app@db/users");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_password_params(url);
    };
    // The authority ends at the first '/', '?' or '#'; a password may itself hold '@', so the
    // user information ends at the last '@' inside the authority.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{}", redact_password_params(tail))
}

/// The password in `url`, if it has one in its user information (as written, not decoded).
pub(crate) fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, _) = rest.split_at(authority_end);
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// Replaces the value of every `password=` parameter (`&`, `;` or space separated) with `***`.
fn redact_password_params(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(found) = find_ascii_case_insensitive(rest, "password=") {
        let value_start = found.saturating_add("password=".len());
        let (head, value_and_tail) = rest.split_at(value_start.min(rest.len()));
        out.push_str(head);
        let value_end = value_and_tail
            .find(['&', ';', ' ', '#'])
            .unwrap_or(value_and_tail.len());
        out.push_str("***");
        rest = value_and_tail.get(value_end..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    haystack.char_indices().map(|(i, _)| i).find(|&i| {
        haystack
            .get(i..)
            .and_then(|tail| tail.get(..needle.len()))
            .is_some_and(|window| window.eq_ignore_ascii_case(needle))
    })
}

/// Removes a known secret from a message that might repeat it (a driver error quoting the URL).
pub(crate) fn scrub(message: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() => message.replace(secret, "***"),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_in_the_user_information_is_hidden() {
        assert_eq!(
            redact_url("postgresql://u:p%40ss@h:1/d"),
            "postgresql://u:***@h:1/d"
        );
        assert_eq!(redact_url("mysql://u:a@b@h/d"), "mysql://u:***@h/d");
        assert_eq!(redact_url("mysql://u:x@h"), "mysql://u:***@h");
    }

    #[test]
    fn password_parameters_are_hidden() {
        assert_eq!(
            redact_url("postgres://h/d?user=u&password=secret&sslmode=require"),
            "postgres://h/d?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("host=h user=u PASSWORD=secret dbname=d"),
            "host=h user=u PASSWORD=*** dbname=d"
        );
    }

    #[test]
    fn urls_without_secrets_are_unchanged() {
        for url in [
            "postgres://h/d",
            "mysql://u@h:3306/d",
            "sqlite:///tmp/x.db",
            "",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn the_password_is_found_for_scrubbing() {
        assert_eq!(url_password("postgres://u:pw@h/d"), Some("pw"));
        assert_eq!(url_password("postgres://u@h/d"), None);
        assert_eq!(url_password("postgres://u:@h/d"), None);
        assert_eq!(scrub("bad pw here", Some("pw")), "bad *** here");
    }
}
