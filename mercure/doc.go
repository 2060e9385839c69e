// Package mercure serves a hub.Hub over HTTP with the Mercure protocol, the
// IETF Internet-Draft "The Mercure Protocol", in both versions clients
// speak, on the same endpoint and history: draft-dunglas-mercure-07 (what
// Mercure 0.x hubs serve) and draft-dunglas-mercure-08 (Mercure 1.0),
// encryption aside. Each request is answered by the draft its parameters
// and token belong to; Config.Draft restricts the hub to one.
//
// A Server is an http.Handler for the hub endpoint /.well-known/mercure
// (GET, HEAD and QUERY subscribe, POST publishes), the subscriptions API
// under /.well-known/mercure/subscriptions, /healthz and /metrics; with a
// Config.PublicURL of another path, at that path too. Mount it on any mux
// with Register, or route those paths to it yourself.
//
// What differs between the drafts (the request parameters, the token's
// shape, the publish rules, the subscription documents) sits behind the
// protocol interface (draft07.go, draft08.go) and in the per-draft
// documents of subscriptions.go.
//
// Choices where the draft leaves room, documented here once:
//
//   - Last-Event-ID on the response is set only when the request asked for
//     a replay, as the draft says: it is the requested ID when it was found
//     in history, otherwise "earliest". An unknown (or trimmed) ID replays
//     everything history still holds, which does start at the earliest
//     update; the "earliest" header tells the client that it may have
//     missed updates (see docs/history.md).
//   - Ids may repeat (neither draft forbids it, and Mercure's conformance
//     suite does it); a Last-Event-ID naming a repeated id resumes after its
//     earliest occurrence still in history. Retry-safe publishing is the
//     Idempotency-Key header's (draft-ietf-httpapi-idempotency-key-header):
//     the key's record holds the fingerprint of the path, media type and
//     body (not the token, which a retry may renew); only a 200 is kept and
//     given again, any other answer releases the key. A store that fails
//     mid-append (503) cannot tell whether it stored the update, so a retry
//     after a 503 may store it twice.
//   - A token that is present but invalid is refused with 401 even when
//     anonymous subscribers are allowed.
//   - A draft-08 request presents an RFC 9068 access token of one of
//     Config.Issuers (typ at+jwt, aud Config.Audience, exp required) in the
//     Authorization header or the Config.AccessTokenCookie cookie, never in
//     the query string; its refusals are RFC 6750 challenges pointing to
//     the RFC 9728 metadata at ProtectedResourceMetadataPath. A publish or
//     a draft-07 subscription may present either kind of token: one whose
//     typ is at+jwt is verified as draft-08's.
//   - Cookie-authorized publishing needs an Origin (or Referer) in
//     Config.PublishOrigins; with an empty list, publishing by cookie is
//     refused. Subscribing by cookie is not origin-checked (CORS governs
//     which pages can read the stream).
//   - A subscribe request whose Accept field excludes text/event-stream is
//     answered 406; a QUERY body other than a form is 415 (with
//     Accept-Query), one over Config.MaxQueryBytes 413. QUERY works for
//     draft-07's topic parameter too.
//   - With "*" in Config.CORSOrigins, an origin not named gets
//     Access-Control-Allow-Origin "*" without credentials: an origin is
//     never reflected with credentials (draft-08 §"Subscription").
//   - A subscription's events and API documents are in the format of the
//     draft it was made with, and each draft's API lists its own
//     subscriptions. The collection of all, whose path both drafts share,
//     is draft-08's for a draft-08 token or an Accept of application/json
//     alone.
//   - Subscription events and the subscriptions API describe the
//     subscribers of this process. Subscription events are kept in a
//     history of their own (Config.SubscriptionStore), so that clients
//     subscribing never push updates out of the hub's history.
package mercure
