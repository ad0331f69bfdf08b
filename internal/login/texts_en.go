package login

// textsEN are the pages' texts in English. {site}, {jid}, {code} and
// {seconds} are filled in with the page's values; the template escapes the
// result like any other text.
var textsEN = map[string]string{
	"title_login":       "Log in",
	"title_wait":        "Confirm in your XMPP client",
	"title_resume":      "Login in progress",
	"title_denied":      "Login refused",
	"title_timeout":     "Login timed out",
	"title_unreachable": "XMPP server unreachable",
	"title_notallowed":  "Not allowed",
	"title_busy":        "Please wait",
	"title_forbidden":   "Access denied",
	"title_loggedout":   "Logged out",
	"title_logout":      "Log out",
	"title_expired":     "Login expired",
	"title_notfound":    "Not found",

	"login_resend":      "You were not logged in, so the form you sent was not delivered. After you log in, you will be back on its page: please send it again.",
	"login_label":       "Your XMPP address",
	"login_placeholder": "name@example.org",
	"login_button":      "Log in",
	"login_hint":        "No password: your XMPP client will ask you to confirm.",

	"wait_sent":     "A confirmation request was sent to {jid}.",
	"wait_code":     "Check that your XMPP client shows this code, then accept:",
	"wait_resend":   "Once logged in, send your form again: it was not delivered.",
	"wait_status":   "Waiting for your answer ({seconds} seconds left). If your client cannot answer the request, reply to the message with the code.",
	"wait_continue": "I have answered: continue",

	"resume": "The code of a login is shown only on the page where it was started. Go back to that page, or start again.",

	"denied":           "The login was refused in the XMPP client of {jid}.",
	"timeout":          "No answer came from {jid} in time.",
	"timeout_hint":     "Is your XMPP client online? Try again and accept the request when it appears.",
	"unreachable":      "The XMPP server could not be reached.",
	"unreachable_jid":  "The XMPP server could not be reached, or it could not deliver the request to {jid}.",
	"unreachable_hint": "Check the address and that your XMPP client is online, then try again in a moment.",
	"notallowed":       "{jid} may not log in to this site.",
	"busy_all":         "Too many logins are in progress right now.",
	"busy_ip":          "Too many login requests came from your network recently.",
	"busy_jid":         "Too many login requests for {jid} were made recently.",
	"busy_hint":        "Nothing was sent to your XMPP client. Please wait a few minutes, then try again.",
	"forbidden":        "You are logged in as {jid}, who may not use this site.",
	"loggedout":        "You are logged out.",
	"logout_confirm":   "Do you want to log out of {site}?",
	"expired":          "This login is no longer in progress.",
	"notfound":         "There is nothing here.",

	"try_again":   "Try again",
	"use_another": "Use another address",
	"logout":      "Log out",
	"login_again": "Log in again",
	"start_again": "Start again",
	"go_to_site":  "Go to the site",

	"err_form_unreadable": "The form could not be read. Please try again.",
	"err_form_expired":    "This form has expired or came from another site. Please send it again.",
	"err_jid_empty":       "Please type your XMPP address, like name@example.org.",
	"err_jid_invalid":     "That is not an XMPP address. It looks like name@example.org.",
	"err_jid_too_long":    "That address is too long.",
	"err_jid_ambiguous":   "This address has a character that XMPP servers read in more than one way, so it cannot log in. Type it as your XMPP server spells your account (for example ss for ß).",
	"err_jid_ip_literal":  "An address at an IP address (like name@10.0.0.5) cannot log in to this site.",
}
