// A relying party written with openid-client (OpenID Certified), for
// xepauth's tests: it logs a visitor in at the provider named by $ISSUER
// as the client $CLIENT_ID ($CLIENT_SECRET, or a public client without),
// and reports what it got. The Go test plays the visitor's browser:
//
//   this prints   {"authorize": URL}            the URL to send the browser to
//   the test gives one line: the URL the provider redirected the browser to
//   this prints   {"claims": …, "userinfo": …, "refreshed": …, "endSession": URL}
//
// Any failure is printed as {"error": message} and exits 1.
import * as client from 'openid-client'
import * as readline from 'node:readline'

const out = (v) => process.stdout.write(JSON.stringify(v) + '\n')

async function main() {
	const { ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT } = process.env
	// The tests' provider is plain HTTP on 127.0.0.1.
	const config = await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET || undefined,
		CLIENT_SECRET ? undefined : client.None(), { execute: [client.allowInsecureRequests] })

	const verifier = client.randomPKCECodeVerifier()
	const state = client.randomState()
	const nonce = client.randomNonce()
	out({ authorize: client.buildAuthorizationUrl(config, {
		redirect_uri: REDIRECT, scope: 'openid profile email offline_access', state, nonce,
		code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
	}).href })

	const lines = readline.createInterface({ input: process.stdin })
	const back = (await lines[Symbol.asyncIterator]().next()).value
	lines.close()

	const tokens = await client.authorizationCodeGrant(config, new URL(back), {
		pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
	})
	const claims = tokens.claims()
	const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
	const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
	out({
		claims, userinfo,
		refreshed: refreshed.claims().sub === claims.sub && refreshed.refresh_token !== tokens.refresh_token,
		endSession: client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: REDIRECT.replace(/callback$/, 'bye') }).href,
	})
}

main().catch((e) => { out({ error: String(e && e.stack || e) }); process.exit(1) })
