//! gatehouse-spa: the browser side of Gatehouse. The login client for single-page apps
//! (authorization code + PKCE, ID token validation, a token cache with rotating refresh tokens)
//! is `js/index.js`; every protocol rule it applies is here, compiled to WebAssembly from
//! `gatehouse-protocol`, the crate whose rules the Worker applies too.
//!
//! Small on purpose (issue 13): the browser does what it already can — `fetch`, storage,
//! `JSON.parse`, `crypto.subtle` (SHA-256, signatures), `crypto.getRandomValues` — and the wasm
//! holds only the rules, synchronous, with no futures. The release build (feature `bare`) has no
//! std: no formatting or panic machinery, and a small allocator.
#![cfg_attr(feature = "bare", no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod id_token;
pub mod rules;
#[cfg(all(test, target_arch = "wasm32"))]
mod tests;

/// A panic is a trap: nothing to format, nowhere to print it. The code returns errors instead
/// of panicking (the workspace lints refuse `unwrap` and `expect`).
#[cfg(all(feature = "bare", target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(all(feature = "bare", target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

use alloc::string::String;
use gatehouse_protocol::concat;
use js_sys::Reflect;
use wasm_bindgen::JsValue;

/// A typed error: a JS `Error` named `GatehouseError` whose `error` property is a
/// machine-readable code and `error_description` the details (`js/index.js` makes the same).
pub fn error(code: &str, description: &str) -> JsValue {
    let e = js_sys::Error::new(&concat(&[code, ": ", description]));
    e.set_name("GatehouseError");
    let _ = Reflect::set(&e, &"error".into(), &code.into());
    let _ = Reflect::set(&e, &"error_description".into(), &description.into());
    e.into()
}

/// A property of a JS value (`undefined` when absent or not an object).
pub fn get(object: &JsValue, name: &str) -> JsValue {
    if !object.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// A string property of a JS object.
pub fn string(object: &JsValue, name: &str) -> Option<String> {
    get(object, name).as_string()
}

/// Sets a property of a JS object.
pub fn set(object: &JsValue, name: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &name.into(), &value.into());
}
