//! Small wrappers over the browser: storage, navigation, `fetch`, time, randomness, errors.

use js_sys::{Object, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, Response, Storage, Window};

use gatehouse_core::b64;
use gatehouse_core::ports::Rng;

/// A typed error: a JS `Error` whose `error` property is a machine-readable code (the OAuth
/// error code when the server sent one) and `error_description` the details.
pub fn error(code: &str, description: &str) -> JsValue {
    let e = js_sys::Error::new(&format!("{code}: {description}"));
    e.set_name("GatehouseError");
    let _ = Reflect::set(&e, &"error".into(), &code.into());
    let _ = Reflect::set(&e, &"error_description".into(), &description.into());
    e.into()
}

pub fn window() -> Result<Window, JsValue> {
    web_sys::window().ok_or_else(|| error("unsupported_environment", "no window: run in a browser"))
}

pub fn now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// `crypto.getRandomValues`, through getrandom.
pub struct BrowserRng;

impl Rng for BrowserRng {
    fn fill(&self, dest: &mut [u8]) {
        if getrandom::fill(dest).is_err() {
            // No CSPRNG means no secure state, nonce or verifier: stop rather than go on.
            wasm_bindgen::throw_str("gatehouse-spa: crypto.getRandomValues is unavailable");
        }
    }
}

/// 32 random bytes, base64url (for `state` and `nonce`).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    BrowserRng.fill(&mut bytes);
    b64::encode(bytes)
}

pub enum Store {
    Session,
    Local,
}

fn storage(which: &Store) -> Result<Storage, JsValue> {
    let w = window()?;
    let s = match which {
        Store::Session => w.session_storage()?,
        Store::Local => w.local_storage()?,
    };
    s.ok_or_else(|| error("unsupported_environment", "web storage is unavailable"))
}

pub fn load(which: &Store, key: &str) -> Option<JsValue> {
    let text = storage(which).ok()?.get_item(key).ok()??;
    JSON::parse(&text).ok()
}

pub fn save(which: &Store, key: &str, value: &JsValue) -> Result<(), JsValue> {
    let text: String = JSON::stringify(value)?.into();
    storage(which)?.set_item(key, &text)
}

/// The keys of a web storage that start with `prefix`.
pub fn keys_with_prefix(which: &Store, prefix: &str) -> Vec<String> {
    let Ok(s) = storage(which) else { return Vec::new() };
    (0..s.length().unwrap_or(0))
        .filter_map(|i| s.key(i).ok().flatten())
        .filter(|k| k.starts_with(prefix))
        .collect()
}

pub fn remove(which: &Store, key: &str) {
    if let Ok(s) = storage(which) {
        let _ = s.remove_item(key);
    }
}

/// Reads a string property of a JS object.
pub fn string(object: &JsValue, name: &str) -> Option<String> {
    Reflect::get(object, &name.into()).ok()?.as_string()
}

pub fn number(object: &JsValue, name: &str) -> Option<f64> {
    Reflect::get(object, &name.into()).ok()?.as_f64()
}

pub fn set(object: &Object, name: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &name.into(), &value.into());
}

/// POSTs a form and returns the parsed JSON body with the status.
pub async fn post_form(url: &str, pairs: &[(&str, &str)]) -> Result<(u16, JsValue), JsValue> {
    let headers = Headers::new()?;
    headers.set("content-type", "application/x-www-form-urlencoded")?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&gatehouse_core::http::params::encode(pairs.iter().copied())));
    let response: Response = JsFuture::from(window()?.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| error("network_error", &format!("{url}: {e:?}")))?
        .unchecked_into();
    let status = response.status();
    let text = JsFuture::from(response.text()?).await?.as_string().unwrap_or_default();
    let body = if text.is_empty() {
        JsValue::UNDEFINED
    } else {
        JSON::parse(&text).unwrap_or(JsValue::UNDEFINED)
    };
    Ok((status, body))
}

/// GETs JSON.
pub async fn get_json(url: &str) -> Result<JsValue, JsValue> {
    let response: Response = JsFuture::from(window()?.fetch_with_str(url))
        .await
        .map_err(|e| error("network_error", &format!("{url}: {e:?}")))?
        .unchecked_into();
    if !response.ok() {
        return Err(error("network_error", &format!("{url}: HTTP {}", response.status())));
    }
    JsFuture::from(response.json()?).await
}

/// Turns an OAuth error response into a typed error.
pub fn oauth_error(body: &JsValue, fallback: &str) -> JsValue {
    let code = string(body, "error").unwrap_or_else(|| fallback.to_string());
    let description = string(body, "error_description").unwrap_or_default();
    error(&code, &description)
}
