package mercure

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ssehub/ssehub/hub"
)

// ProtectedResourceMetadataPath is where the hub serves its OAuth 2.0
// protected resource metadata (RFC 9728), the path RFC 9728 §3.1 derives
// from HubPath.
const ProtectedResourceMetadataPath = "/.well-known/oauth-protected-resource" + HubPath

// resourceMetadata is the document served at ProtectedResourceMetadataPath
// (draft-08 §"Protected Resource Metadata").
type resourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	DetailTypes          []string `json:"authorization_details_types_supported"`
	// BearerMethods lists the RFC 6750 methods only: the cookie is not
	// one, and has a member of its own.
	BearerMethods []string `json:"bearer_methods_supported"`
	Cookie        string   `json:"mercure_cookie,omitempty"`
	Subscriptions bool     `json:"mercure_subscriptions,omitempty"`
}

// setupAccessTokens reads the draft-08 token configuration: the issuers'
// keys, the audience, and from it the URL of the metadata document.
func (s *Server) setupAccessTokens() error {
	c := &s.cfg
	aud := c.Audience
	if aud == "" {
		aud = c.PublicURL
	}
	if len(c.Issuers) > 0 {
		if c.Draft == "07" {
			return errors.New("mercure: Issuers verify draft-08 access tokens, and Draft restricts this hub to draft-07")
		}
		if aud == "" {
			return errors.New("mercure: Issuers need the hub's resource identifier, which tokens' aud must contain: set Audience or PublicURL")
		}
	}
	maxMatcher := c.MaxSelectorBytes
	if maxMatcher == 0 {
		maxMatcher = hub.DefaultMaxSelectorBytes
	}
	var err error
	if s.tokens, err = newAccessTokens(c.Issuers, aud, c.JWTAlgorithms, c.MaxTopics, maxMatcher, s.verified); err != nil {
		return err
	}
	// Draft-07 hubs publish no metadata: its absence is how clients tell
	// them apart (draft-08 §"Protected Resource Metadata").
	if c.Draft == "07" || aud == "" {
		return nil
	}
	u, err := url.Parse(aud)
	if err != nil || !u.IsAbs() || u.Host == "" {
		if c.Audience != "" && len(c.Issuers) > 0 {
			s.log.Info("mercure: the Audience is not a URL: no protected resource metadata is served", "audience", aud)
		}
		return nil
	}
	s.metadataURL = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/.well-known/oauth-protected-resource" + u.Path}).String()
	for _, iss := range c.Issuers {
		if iss.AuthorizationServer {
			s.metadata.AuthorizationServers = append(s.metadata.AuthorizationServers, iss.ID)
		}
	}
	s.metadata.Resource = aud
	s.metadata.DetailTypes = []string{AuthorizationDetailType}
	s.metadata.BearerMethods = []string{"header"}
	s.metadata.Cookie = c.AccessTokenCookie
	s.metadata.Subscriptions = c.Subscriptions
	return nil
}

// resourceMetadata serves the protected resource metadata, or 404 when the
// hub has none (restricted to draft-07, or no URL to identify it by).
func (s *Server) resourceMetadata(w http.ResponseWriter, r *http.Request) {
	if s.metadataURL == "" {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "GET, OPTIONS")
		httpErrorf(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
		return
	}
	b, err := json.Marshal(&s.metadata)
	if err != nil {
		httpErrorf(w, http.StatusInternalServerError, "protected resource metadata: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)+1))
	if r.Method == http.MethodGet {
		w.Write(append(b, '\n'))
	}
}

// hubOrigin is the scheme and host of the hub's URL for r.
func (s *Server) hubOrigin(r *http.Request) string {
	u, err := url.Parse(s.hubURL(r))
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
