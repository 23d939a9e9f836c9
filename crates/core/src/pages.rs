//! Hosted pages: login, consent, errors, logout. Server-rendered HTML that works without
//! JavaScript, with one shared stylesheet, escaped output and strict headers
//! (`Content-Security-Policy` with `frame-ancestors 'none'`, no caching, no referrer).

use crate::http::Response;

/// The path of the shared stylesheet.
pub const STYLESHEET_PATH: &str = "/assets/gatehouse.css";

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// A page's HTML and headers. `form_targets` are extra origins the page's forms may end up at
/// (CSP `form-action` also governs the redirects that follow a form submission).
pub fn page(status: u16, title: &str, body: &str, form_targets: &[&str]) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · Gatehouse</title>
<link rel="stylesheet" href="{STYLESHEET_PATH}">
</head>
<body>
<main class="card">
<div class="brand" aria-hidden="true"><span class="mark">◆</span> Gatehouse</div>
{body}
</main>
</body>
</html>
"#,
        title = escape(title),
    );
    let mut form_action = String::from("'self'");
    for target in form_targets {
        // Only scheme://host[:port] sources, never anything that could break out of the header.
        if target.chars().all(|c| c.is_ascii_graphic() && c != ';' && c != ',' && c != '\'') {
            form_action.push(' ');
            form_action.push_str(target);
        }
    }
    Response::new(status)
        .with_header("content-type", "text/html; charset=utf-8")
        .with_header(
            "content-security-policy",
            &format!(
                "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
            ),
        )
        .with_header("x-frame-options", "DENY")
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
        .with_header("cache-control", "no-store")
        .with_body(html)
}

/// A page that delivers an authorization response by script: `script` runs under a CSP that
/// allows exactly it (by hash), `form_action` is where its form may post, `frame_ancestor` the
/// one origin that may frame it (none: not framed).
pub fn script_page(
    title: &str,
    body: &str,
    script: &str,
    form_action: Option<&str>,
    frame_ancestor: Option<&str>,
) -> Response {
    use sha2::{Digest, Sha256};
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>{title} · Gatehouse</title>
</head>
<body>
{body}
<script>{script}</script>
</body>
</html>
"#,
        title = escape(title),
    );
    use base64::Engine;
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()));
    let source = |o: Option<&str>, none: &str| {
        o.filter(|t| t.chars().all(|c| c.is_ascii_graphic() && !matches!(c, ';' | ',' | '\'')))
            .map(str::to_string)
            .unwrap_or_else(|| none.to_string())
    };
    let mut response = Response::new(200)
        .with_header("content-type", "text/html; charset=utf-8")
        .with_header(
            "content-security-policy",
            &format!(
                "default-src 'none'; script-src 'sha256-{hash}'; form-action {}; frame-ancestors {}; base-uri 'none'",
                source(form_action, "'none'"),
                source(frame_ancestor, "'none'"),
            ),
        )
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
        .with_header("cache-control", "no-store")
        .with_body(html);
    if frame_ancestor.is_none() {
        response = response.with_header("x-frame-options", "DENY");
    }
    response
}

/// An error shown to the user (never a redirect).
pub fn error_page(status: u16, code: &str, description: &str) -> Response {
    let body = format!(
        r#"<h1>Something went wrong</h1>
<p class="lead">The request could not be completed.</p>
<div class="alert" role="alert"><strong>{code}</strong><br>{description}</div>
<p class="muted">If you followed a link from an application, go back to it and try again.</p>"#,
        code = escape(code),
        description = escape(description),
    );
    page(status, "Error", &body, &[])
}

/// The login form. `error` is the generic message after a failed attempt.
pub fn login_page(
    client_name: &str,
    request_id: &str,
    csrf: &str,
    login_hint: Option<&str>,
    error: Option<&str>,
    form_targets: &[&str],
) -> Response {
    let alert = error
        .map(|e| format!(r#"<div class="alert" role="alert">{}</div>"#, escape(e)))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Log in</h1>
<p class="lead">to continue to <strong>{client}</strong></p>
{alert}
<form method="post" action="/login" novalidate>
<input type="hidden" name="req" value="{req}">
<input type="hidden" name="csrf" value="{csrf}">
<label for="username">Email</label>
<input id="username" name="username" type="email" autocomplete="username" required autofocus value="{hint}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Continue</button>
</form>"#,
        client = escape(client_name),
        req = escape(request_id),
        csrf = escape(csrf),
        hint = escape(login_hint.unwrap_or("")),
    );
    page(if error.is_some() { 400 } else { 200 }, "Log in", &body, form_targets)
}

/// The consent form: what the client asks for, on which API.
#[allow(clippy::too_many_arguments)]
pub fn consent_page(
    client_name: &str,
    user_email: &str,
    api_name: Option<&str>,
    scopes: &[(String, String)],
    details: &[String],
    request_id: &str,
    csrf: &str,
    form_targets: &[&str],
    notice: Option<&str>,
) -> Response {
    let notice = notice
        .map(|n| format!(r#"<div class="notice" role="note">{}</div>"#, escape(n)))
        .unwrap_or_default();
    let items: String = scopes
        .iter()
        .map(|(value, description)| {
            format!(
                r#"<li><span class="scope">{}</span><span class="muted">{}</span></li>"#,
                escape(value),
                escape(description)
            )
        })
        .collect();
    let api = api_name
        .map(|a| format!(r#"<p>on <strong>{}</strong></p>"#, escape(a)))
        .unwrap_or_default();
    // RFC 9396 §8: each authorization detail in words the user can check.
    let details = if details.is_empty() {
        String::new()
    } else {
        let items: String = details
            .iter()
            .map(|d| format!(r#"<li class="detail"><strong>{}</strong></li>"#, escape(d)))
            .collect();
        format!(r#"<p>and to authorize:</p><ul class="details">{items}</ul>"#)
    };
    let body = format!(
        r#"<h1>Authorize {client}</h1>
<p class="lead">Signed in as <strong>{email}</strong>. <strong>{client}</strong> is asking to:</p>
{api}
<ul class="scopes">{items}</ul>
{details}
{notice}
<form method="post" action="/consent">
<input type="hidden" name="req" value="{req}">
<input type="hidden" name="csrf" value="{csrf}">
<div class="actions">
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
<button type="submit" name="decision" value="allow">Allow</button>
</div>
</form>"#,
        client = escape(client_name),
        email = escape(user_email),
        req = escape(request_id),
        csrf = escape(csrf),
    );
    page(200, "Authorize", &body, form_targets)
}

/// "Log out?" — RP-Initiated Logout without an ID token hint asks the user first.
pub fn logout_confirm_page(fields: &[(&str, &str)], form_target: &str) -> Response {
    let hidden: String = fields
        .iter()
        .map(|(name, value)| {
            format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(name), escape(value))
        })
        .collect();
    let body = format!(
        r#"<h1>Log out?</h1>
<p class="lead">An application asked to end your Gatehouse session.</p>
<form method="post" action="/oidc/logout">
{hidden}
<button type="submit">Log out</button>
</form>"#
    );
    let targets: Vec<&str> = if form_target.is_empty() { vec![] } else { vec![form_target] };
    page(200, "Log out", &body, &targets)
}

/// After logout without a registered place to return to.
pub fn logged_out_page() -> Response {
    page(
        200,
        "Logged out",
        "<h1>You are logged out</h1>\n<p class=\"lead\">You can close this window.</p>",
        &[],
    )
}

/// The end of an `/activate` interaction: approved or denied, the user goes back to the device.
pub fn device_done_page(approved: bool) -> Response {
    let (title, body) = if approved {
        ("Device connected", "<h1>You're all set</h1>\n<p class=\"lead\">Your device is now signed in. Return to it to continue; you can close this window.</p>")
    } else {
        ("Request denied", "<h1>Request denied</h1>\n<p class=\"lead\">The device was not given access. You can close this window.</p>")
    };
    page(200, title, body, &[])
}

/// The end of an `/approve` answer: the application that asked hears it on its own.
pub fn backchannel_done_page(client_name: &str, approved: bool) -> Response {
    let body = if approved {
        format!(
            "<h1>Approved</h1>\n<p class=\"lead\"><strong>{}</strong> can continue. <a href=\"/approve\">Other requests</a></p>",
            escape(client_name)
        )
    } else {
        "<h1>Request denied</h1>\n<p class=\"lead\">The application was told no. <a href=\"/approve\">Other requests</a></p>".to_string()
    };
    page(200, if approved { "Approved" } else { "Request denied" }, &body, &[])
}

/// A request waiting for the user's answer, as the approval list shows it.
#[derive(Debug)]
pub struct PendingApproval {
    pub request_id: String,
    pub client_name: String,
    pub binding_message: Option<String>,
    pub scope: String,
    pub seconds_left: i64,
}

/// `/approve`: the signed-in user's pending backchannel requests (OpenID CIBA), each a link to
/// its own Approve / Deny page.
pub fn approvals_page(user_email: &str, pending: &[PendingApproval]) -> Response {
    let items: String = pending
        .iter()
        .map(|p| {
            let message = p
                .binding_message
                .as_deref()
                .map(|m| format!(r#"<br><span class="scope">{}</span>"#, escape(m)))
                .unwrap_or_default();
            format!(
                r#"<li><a href="/approve?request={id}"><strong>{client}</strong></a>{message}<br><span class="muted">{scope} · {minutes} min {seconds} s left</span></li>"#,
                id = escape(&p.request_id),
                client = escape(&p.client_name),
                scope = escape(&p.scope),
                minutes = p.seconds_left / 60,
                seconds = p.seconds_left % 60,
            )
        })
        .collect();
    let list = if pending.is_empty() {
        r#"<p class="muted">Nothing is waiting for you.</p>"#.to_string()
    } else {
        format!(r#"<ul class="scopes">{items}</ul>"#)
    };
    let body = format!(
        r#"<h1>Requests to approve</h1>
<p class="lead">Signed in as <strong>{email}</strong>. Applications asking to sign you in elsewhere:</p>
{list}
<p class="muted">Approve only what you started yourself. <a href="/approve">Refresh</a></p>"#,
        email = escape(user_email),
    );
    page(200, "Requests to approve", &body, &[])
}

/// `/approve` before login: sign in to see what is waiting.
pub fn approve_login_page(csrf: &str, error: Option<&str>, status: u16) -> Response {
    let alert = error
        .map(|e| format!(r#"<div class="alert" role="alert">{}</div>"#, escape(e)))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Log in</h1>
<p class="lead">to see the requests waiting for your approval</p>
{alert}
<form method="post" action="/approve" novalidate>
<input type="hidden" name="csrf" value="{csrf}">
<label for="username">Email</label>
<input id="username" name="username" type="email" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Continue</button>
</form>"#,
        csrf = escape(csrf),
    );
    page(status, "Log in", &body, &[])
}

/// `/activate`: enter the code a device shows (RFC 8628 §3.3).
pub fn activate_page(user_code: &str, error: Option<&str>, status: u16) -> Response {
    let alert = error
        .map(|e| format!(r#"<div class="alert" role="alert">{}</div>"#, escape(e)))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Connect a device</h1>
<p class="lead">Enter the code shown on your device.</p>
{alert}
<form method="post" action="/activate" novalidate>
<label for="user_code">Code</label>
<input id="user_code" name="user_code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus placeholder="XXXX-XXXX" value="{code}">
<button type="submit">Continue</button>
</form>"#,
        code = escape(user_code),
    );
    page(status, "Connect a device", &body, &[])
}

/// The shared stylesheet.
pub fn stylesheet() -> Response {
    Response::new(200)
        .with_header("content-type", "text/css; charset=utf-8")
        .with_header("cache-control", "public, max-age=86400")
        .with_body(STYLESHEET)
}

const STYLESHEET: &str = r#":root{--ink:#1d2433;--muted:#5b6477;--line:#d9dee8;--bg:#f3f5f9;--accent:#3b5bdb;--accent-ink:#fff;--danger:#c92a2a;--radius:10px}
*{box-sizing:border-box}
.notice{margin:16px 0;padding:12px 14px;border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:var(--radius);background:#fff}
html,body{margin:0}
body{min-height:100vh;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg);display:flex;align-items:center;justify-content:center;padding:24px}
.card{width:100%;max-width:400px;background:#fff;border:1px solid var(--line);border-radius:14px;padding:32px;box-shadow:0 10px 30px rgba(29,36,51,.08)}
.brand{font-weight:600;letter-spacing:.02em;color:var(--muted);margin-bottom:20px}
.mark{color:var(--accent)}
h1{font-size:1.5rem;margin:0 0 4px}
.lead{color:var(--muted);margin:0 0 20px}
.muted{color:var(--muted);font-size:.9rem}
label{display:block;font-weight:600;font-size:.9rem;margin:16px 0 6px}
input[type=email],input[type=password],input[type=text]{width:100%;padding:10px 12px;border:1px solid var(--line);border-radius:var(--radius);font:inherit}
input:focus{outline:2px solid var(--accent);outline-offset:1px;border-color:var(--accent)}
button{display:block;width:100%;margin-top:24px;padding:11px 16px;border:0;border-radius:var(--radius);background:var(--accent);color:var(--accent-ink);font:inherit;font-weight:600;cursor:pointer}
button:hover{filter:brightness(1.08)}
button:focus-visible{outline:2px solid var(--ink);outline-offset:2px}
button.secondary{background:#fff;color:var(--ink);border:1px solid var(--line)}
.actions{display:flex;gap:12px}
.actions button{flex:1}
.alert{background:#fff5f5;border:1px solid #ffc9c9;color:var(--danger);border-radius:var(--radius);padding:10px 12px;margin:0 0 12px;word-break:break-word}
.scopes{list-style:none;padding:0;margin:8px 0 0;border:1px solid var(--line);border-radius:var(--radius)}
.scopes li{display:flex;flex-direction:column;padding:10px 12px;border-top:1px solid var(--line)}
.scopes li:first-child{border-top:0}
.scope{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9rem}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_matters() {
        assert_eq!(
            escape(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(escape("a\u{0}b\u{7}c"), "abc");
    }

    #[test]
    fn pages_carry_strict_headers_and_escape_input() {
        let r = login_page(
            "<Evil>",
            "r1",
            "c1",
            Some("\"><img src=x>"),
            None,
            &["https://app.example"],
        );
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("form-action 'self' https://app.example"));
        let html = String::from_utf8(r.body).unwrap();
        assert!(html.contains("&lt;Evil&gt;"));
        assert!(!html.contains("<img src=x>"));
        let r = page(200, "t", "", &["https://a.example; script-src *"]);
        assert!(!r.header("content-security-policy").unwrap().contains("script-src *"));
    }
}
