//! Cookie mode ("SPAs with cookies"): the Worker runs the login and keeps the tokens; the page
//! holds only an `HttpOnly` session cookie and calls the API through the Worker's `/bff/api`.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Headers, RequestCredentials, RequestInit, Response};

use crate::browser::{self, error, string};

/// A cookie session with a Gatehouse Worker (its `/bff/*` endpoints).
#[wasm_bindgen]
#[derive(Debug)]
pub struct CookieSession {
    domain: String,
}

/// `fetch` with the session cookie and the CSRF header the Worker requires.
async fn call(url: String, init: JsValue) -> Result<Response, JsValue> {
    let options = if init.is_undefined() {
        Object::new()
    } else {
        Object::assign(&Object::new(), init.unchecked_ref())
    };
    let given = Reflect::get(&options, &"headers".into())?;
    let headers = if given.is_undefined() {
        Headers::new()?
    } else {
        Headers::new_with_headers(given.unchecked_ref())?
    };
    headers.set("gatehouse-csrf", "1")?;
    let init: RequestInit = options.unchecked_into();
    init.set_headers(&headers);
    init.set_credentials(RequestCredentials::Include);
    let response = JsFuture::from(browser::window()?.fetch_with_str_and_init(&url, &init))
        .await
        .map_err(|e| error("network_error", &format!("{url}: {e:?}")))?;
    Ok(response.unchecked_into())
}

#[wasm_bindgen]
impl CookieSession {
    /// Goes to the Worker's login; it comes back to `returnTo` (default: this page) with the
    /// session cookie set.
    pub fn login(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] return_to: JsValue,
    ) -> Result<(), JsValue> {
        let window = browser::window()?;
        let to = return_to.as_string().unwrap_or(window.location().href()?);
        let query = gatehouse_core::http::params::encode([("returnTo", to.as_str())]);
        window.location().assign(&format!("{}/bff/login?{query}", self.domain))
    }

    /// `{ authenticated, user? }` — never a token.
    #[wasm_bindgen(unchecked_return_type = "Promise<CookieSessionState>")]
    pub fn session(&self) -> Promise {
        let url = format!("{}/bff/session", self.domain);
        future_to_promise(async move {
            let response = call(url, JsValue::UNDEFINED).await?;
            JsFuture::from(response.json()?).await
        })
    }

    /// `fetch` to the API through the Worker: `path` is appended to `/bff/api`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        path: String,
        #[wasm_bindgen(unchecked_param_type = "RequestInit | undefined")] init: JsValue,
    ) -> Promise {
        let url = format!(
            "{}/bff/api{}",
            self.domain,
            if path.starts_with('/') { path } else { format!("/{path}") }
        );
        future_to_promise(async move { Ok(call(url, init).await?.into()) })
    }

    /// Ends the session at the Worker (the refresh token is revoked, the login there ends too)
    /// and goes to `returnTo` if it is an allowed logout URL (else reloads the page).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn logout(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] return_to: JsValue,
    ) -> Promise {
        let url = format!("{}/bff/logout", self.domain);
        future_to_promise(async move {
            let init = Object::new();
            browser::set(&init, "method", "POST");
            let body = gatehouse_core::http::params::encode([(
                "returnTo",
                return_to.as_string().unwrap_or_default().as_str(),
            )]);
            browser::set(&init, "body", body);
            let headers = Headers::new()?;
            headers.set("content-type", "application/x-www-form-urlencoded")?;
            browser::set(&init, "headers", headers);
            let response = call(url, init.into()).await?;
            let json = JsFuture::from(response.json()?).await?;
            if !response.ok() {
                return Err(browser::oauth_error(&json, "logout_failed"));
            }
            // The Worker ended both its cookie session and the login; go where it allows.
            let window = browser::window()?;
            match string(&json, "return_to") {
                Some(to) => window.location().assign(&to)?,
                None => window.location().reload()?,
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// A cookie session with the Worker at `domain` (same site as the page).
#[wasm_bindgen(js_name = createCookieSession)]
pub fn create_cookie_session(
    #[wasm_bindgen(unchecked_param_type = "{ domain: string }")] options: JsValue,
) -> Result<CookieSession, JsValue> {
    let domain =
        string(&options, "domain").ok_or_else(|| error("invalid_options", "domain is required"))?;
    Ok(CookieSession { domain: domain.trim_end_matches('/').to_string() })
}
