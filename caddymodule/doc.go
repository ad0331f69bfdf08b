// Package caddymodule is the Caddy side of xepauth: the xmpp_auth app, which
// owns the XMPP component connection that every site shares, and the
// http.handlers.xmpp_auth handler, which gates a site behind a login
// confirmed in the visitor's XMPP client. A third piece,
// http.handlers.xmpp_auth_api (api.go), serves the /auth API of the
// standalone component HTTPAuthenticationOverXMPP through the same
// connection.
//
// Caddyfile:
//
//	{
//		xmpp_auth {
//			server 127.0.0.1:5347
//			domain auth.example.org
//			secret {env.XMPP_COMPONENT_SECRET}
//		}
//	}
//
//	wiki.example.org {
//		xmpp_auth {
//			allow example.org
//		}
//		reverse_proxy 127.0.0.1:8080
//	}
//
// The package knows nothing of stanzas: it hands requests to package
// xepauth and reads back outcomes.
package caddymodule
