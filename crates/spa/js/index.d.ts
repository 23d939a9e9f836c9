// @gatehouse/spa: hand-written types for index.js (the wasm module's own are in gatehouse_spa.d.ts).
export { default, initSync } from "./gatehouse_spa.js";

/** Options of `createGatehouseClient`. */
export interface GatehouseClientOptions {
  /** The authorization server, e.g. "auth.example.com" (https assumed) or "http://127.0.0.1:8787". */
  domain: string;
  /** The application's client_id. */
  clientId: string;
  /** The expected ID token issuer; default `${domain}/`. */
  issuer?: string;
  /** Defaults for every login and token request. */
  authorizationParams?: AuthorizationParams;
  /** Where tokens are kept: "memory" (default) or "localstorage" (shared by tabs). */
  cacheLocation?: "memory" | "localstorage";
  /** A cache of your own (auth0-spa-js's ICache); it wins over cacheLocation. */
  cache?: Cache;
  /** Ask for offline_access and refresh with rotating refresh tokens (default true). */
  useRefreshTokens?: boolean;
  /** Clock-skew leeway in seconds for ID token times, and how early tokens are refreshed (default 60). */
  leeway?: number;
}
export interface AuthorizationParams {
  /** Default: the page's origin followed by "/". */
  redirect_uri?: string;
  /** The API (audience) the access token is for. */
  audience?: string;
  /** Space-separated scopes; "openid" is always added. Default "openid profile email". */
  scope?: string;
  prompt?: "none" | "login" | "consent";
  login_hint?: string;
  max_age?: number;
  /** Any other parameter is sent as it is (ui_locales, acr_values, …). */
  [param: string]: string | number | undefined;
}
export interface LoginOptions {
  authorizationParams?: AuthorizationParams;
  /** Anything to get back from `handleRedirectCallback`. */
  appState?: unknown;
}
export interface RedirectLoginResult {
  appState?: unknown;
}
export interface GetTokenSilentlyOptions {
  /** "off" skips the cache and refreshes; "cache-only" never refreshes (undefined when nothing is cached). */
  cacheMode?: "on" | "off" | "cache-only";
  authorizationParams?: Pick<AuthorizationParams, "audience" | "scope">;
  /** Answer the whole token response rather than the access token. */
  detailedResponse?: boolean;
}
export interface TokenResponse {
  access_token: string;
  id_token?: string;
  scope: string;
  expires_in: number;
}
/** A cache of your own; each method may return a promise. */
export interface Cache {
  get(key: string): unknown | Promise<unknown>;
  set(key: string, entry: unknown): void | Promise<void>;
  remove(key: string): void | Promise<void>;
  /** Without it, logout forgets only what this page stored. */
  allKeys?(): string[] | Promise<string[]>;
}
export interface LogoutOptions {
  /** A registered post-logout redirect URI. */
  returnTo?: string;
  /** As auth0-spa-js: logoutParams.returnTo. */
  logoutParams?: { returnTo?: string };
  /** Only forget the tokens here; do not end the server session (auth0-spa-js: openUrl: false). */
  localOnly?: boolean;
  openUrl?: false;
}
/** The user's claims from the ID token. */
export interface User {
  sub: string;
  name?: string;
  given_name?: string;
  family_name?: string;
  nickname?: string;
  picture?: string;
  email?: string;
  email_verified?: boolean;
  [claim: string]: unknown;
}
export interface IdTokenClaims extends User {
  iss: string;
  aud: string | string[];
  exp: number;
  iat: number;
  nonce?: string;
  /** The raw ID token. */
  __raw: string;
}
/** Cookie mode: what `CookieSession.session()` answers. */
export interface CookieSessionState {
  authenticated: boolean;
  user?: User;
}
/** Errors are `Error`s named "GatehouseError" with an OAuth-style `error` code, e.g.
 * "login_required", "invalid_state", "invalid_nonce", "invalid_signature", "expired". */
export interface GatehouseError extends Error {
  error: string;
  error_description: string;
}

export interface GatehouseClient {
  /** Sends the browser to /authorize with PKCE (S256), a fresh state and nonce. */
  loginWithRedirect(options?: LoginOptions): Promise<void>;
  /** On the callback page: checks state and iss, exchanges the code, validates the ID token. */
  handleRedirectCallback(url?: string): Promise<RedirectLoginResult>;
  getTokenSilently(options: GetTokenSilentlyOptions & { detailedResponse: true }): Promise<TokenResponse>;
  getTokenSilently(options?: GetTokenSilentlyOptions): Promise<string>;
  /** getTokenSilently where "not logged in" is not an error. */
  checkSession(options?: GetTokenSilentlyOptions): Promise<void>;
  getUser(): Promise<User | undefined>;
  getIdTokenClaims(): Promise<IdTokenClaims | undefined>;
  isAuthenticated(): Promise<boolean>;
  logout(options?: LogoutOptions): Promise<void>;
  /** fetch with Authorization: Bearer <access token>. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
}
export interface CookieSession {
  login(returnTo?: string): void;
  session(): Promise<CookieSessionState>;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  logout(returnTo?: string): Promise<void>;
}
export interface PkcePair {
  codeVerifier: string;
  codeChallenge: string;
  codeChallengeMethod: "S256";
}
export function createGatehouseClient(options: GatehouseClientOptions): Promise<GatehouseClient>;
export function createCookieSession(options: { domain: string }): CookieSession;
export function createPkcePair(): Promise<PkcePair>;
export function pkceChallenge(codeVerifier: string): Promise<string>;
