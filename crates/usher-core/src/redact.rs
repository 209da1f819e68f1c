//! Connection strings without their secrets, for logs and errors: the one redaction every
//! store and source uses.

/// The URL with its password replaced by `***`: the `user:password@` part and any `password=`
/// parameter (URL query or `key=value` connection string). The user information ends at the
/// last `@` before the query, so a password written raw, with `/` or `@` in it, is hidden
/// whole. Anything that is not a URL is scanned for `password=` only.
///
/// ```
/// use usher_core::redact_url;
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
    let (head, tail) = rest.split_at(rest.find(['?', '#']).unwrap_or(rest.len()));
    let head = match head.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => head.to_owned(),
    };
    format!("{scheme}://{head}{}", redact_password_params(tail))
}

/// The password `url` carries, as written (not decoded): in its user information, else in a
/// `password=` parameter. `None` when it has none (or an empty one).
pub fn url_password(url: &str) -> Option<&str> {
    let from_userinfo = url.split_once("://").and_then(|(_, rest)| {
        let (head, _) = rest.split_at(rest.find(['?', '#']).unwrap_or(rest.len()));
        let (userinfo, _) = head.rsplit_once('@')?;
        userinfo.split_once(':').map(|(_, password)| password)
    });
    let from_params = || {
        let at = find_ascii_case_insensitive(url, "password=")?;
        let value = url.get(at.saturating_add("password=".len())..)?;
        value.get(..value.find(['&', ';', ' ', '#']).unwrap_or(value.len()))
    };
    from_userinfo
        .filter(|p| !p.is_empty())
        .or_else(|| from_params().filter(|p| !p.is_empty()))
}

/// `message` with every occurrence of `secret` replaced by `***`: a driver error that quotes
/// the URL it was given.
pub fn scrub(message: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() => message.replace(secret, "***"),
        _ => message.to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_in_the_user_information_is_hidden() {
        for (url, shown) in [
            (
                "postgres://usher:s3cr3t@db:5432/usher?sslmode=require",
                "postgres://usher:***@db:5432/usher?sslmode=require",
            ),
            ("postgresql://u:p%40ss@h:1/d", "postgresql://u:***@h:1/d"),
            ("mysql://u:a@b@h/d", "mysql://u:***@h/d"),
            ("mysql://u:x@h", "mysql://u:***@h"),
            // Raw `@` and `/` in the password: all of it goes.
            ("postgres://u:p%40ss@word@db/x", "postgres://u:***@db/x"),
            ("postgres://u:pa/ss@db/x", "postgres://u:***@db/x"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn password_parameters_are_hidden() {
        assert_eq!(
            redact_url("postgres://h/d?user=u&password=secret&sslmode=require"),
            "postgres://h/d?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgresql://db/usher?user=u&password=p@ss"),
            "postgresql://db/usher?user=u&password=***"
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
            "postgres://usher@db/usher",
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
        assert_eq!(url_password("postgres://u:pa/ss@h/d"), Some("pa/ss"));
        assert_eq!(
            url_password("postgres://h/d?user=u&password=p@ss"),
            Some("p@ss")
        );
        assert_eq!(url_password("postgres://u@h/d"), None);
        assert_eq!(url_password("postgres://u:@h/d"), None);
        assert_eq!(scrub("bad pw here", Some("pw")), "bad *** here");
        assert_eq!(scrub("nothing", url_password("postgres://db/x")), "nothing");
    }
}
