package login

// textsFR are the pages' texts in French, with the same keys and fields as
// textsEN. The visitor is addressed as « vous », and the wording avoids
// gendered agreements (connecté·e) by speaking of the session or the
// address instead. As French typography wants, a no-break space (\u00a0)
// comes before a colon and a narrow one (\u202f) before ; and ?, so that a
// line never starts with them.
var textsFR = map[string]string{
	"title_login":       "Connexion",
	"title_wait":        "Confirmez dans votre client XMPP",
	"title_resume":      "Connexion en cours",
	"title_denied":      "Connexion refusée",
	"title_timeout":     "Délai de réponse dépassé",
	"title_unreachable": "Serveur XMPP injoignable",
	"title_notallowed":  "Adresse non autorisée",
	"title_busy":        "Veuillez patienter",
	"title_forbidden":   "Accès refusé",
	"title_invalid":     "Cette connexion ne peut pas aboutir",
	"title_consent":     "Autoriser {client}\u202f?",
	"title_loggedout":   "Déconnexion",
	"title_logout":      "Se déconnecter",
	"title_expired":     "Demande expirée",
	"title_notfound":    "Page introuvable",

	"login_resend":      "Votre session n'était pas ouverte\u00a0: le formulaire que vous avez envoyé n'a pas été transmis. Après la connexion, vous reviendrez sur sa page\u202f; il vous suffira de l'envoyer à nouveau.",
	"login_label":       "Votre adresse XMPP",
	"login_placeholder": "nom@exemple.org",
	"login_button":      "Se connecter",
	"login_hint":        "Pas de mot de passe\u00a0: votre client XMPP vous demandera de confirmer.",

	"wait_sent":     "Une demande de confirmation a été envoyée à {jid}.",
	"wait_code":     "Vérifiez que votre client XMPP affiche bien ce code, puis acceptez\u00a0:",
	"wait_resend":   "Après la connexion, envoyez de nouveau votre formulaire\u00a0: il n'a pas été transmis.",
	"wait_status":   "En attente de votre réponse (encore {seconds} secondes). Si votre client ne peut pas répondre à la demande, répondez au message en y indiquant le code.",
	"wait_continue": "J'ai répondu\u00a0: continuer",

	"resume": "Le code d'une connexion ne s'affiche que sur la page où elle a été demandée. Revenez à cette page, ou recommencez.",

	"denied":               "La connexion a été refusée dans le client XMPP de {jid}.",
	"timeout":              "Aucune réponse de {jid} n'est arrivée à temps.",
	"timeout_hint":         "Votre client XMPP est-il bien en ligne\u202f? Réessayez, puis acceptez la demande dès qu'elle s'affiche.",
	"unreachable":          "Le serveur XMPP est injoignable.",
	"unreachable_jid":      "Le serveur XMPP est injoignable, ou il n'a pas pu transmettre la demande à {jid}.",
	"unreachable_hint":     "Vérifiez l'adresse et que votre client XMPP est en ligne, puis réessayez dans un instant.",
	"notallowed":           "L'adresse {jid} n'a pas accès à ce site.",
	"busy_all":             "Trop de connexions sont en cours en ce moment.",
	"busy_ip":              "Votre réseau a envoyé trop de demandes de connexion ces dernières minutes.",
	"busy_jid":             "Trop de demandes de connexion ont été faites pour {jid} ces dernières minutes.",
	"busy_hint":            "Rien n'a été envoyé à votre client XMPP. Patientez quelques minutes, puis réessayez.",
	"forbidden":            "Votre session est ouverte avec l'adresse {jid}, qui n'a pas accès à ce site.",
	"loggedout":            "Votre session est fermée.",
	"invalid":              "La demande de connexion de l'application a été refusée. Revenez à l'application et reconnectez-vous\u00a0; si cette page revient, transmettez son message à qui gère l'application\u00a0:",
	"consent_asks":         "{client} demande à vous connecter avec l'adresse {jid}. L'application connaîtrait\u00a0:",
	"consent_allow":        "Autoriser",
	"consent_deny":         "Refuser",
	"consent_hint":         "La question n'est posée qu'une fois par application, et à nouveau si elle demande à en savoir plus.",
	"claim_openid":         "un identifiant qui reste le même à chaque connexion",
	"claim_profile":        "votre adresse XMPP, {jid}",
	"claim_email":          "votre adresse électronique, si votre adresse XMPP en est une",
	"claim_offline_access": "le droit de garder votre session ouverte en votre absence",
	"logout_confirm":       "Voulez-vous vous déconnecter de {site}\u202f?",
	"expired":              "Cette demande de connexion n'est plus en cours.",
	"notfound":             "Cette page n'existe pas.",

	"try_again":   "Réessayer",
	"use_another": "Utiliser une autre adresse",
	"logout":      "Se déconnecter",
	"login_again": "Se reconnecter",
	"start_again": "Recommencer",
	"go_to_site":  "Aller sur le site",

	"err_form_unreadable": "Le formulaire n'a pas pu être lu. Veuillez réessayer.",
	"err_form_expired":    "Ce formulaire a expiré ou vient d'un autre site. Veuillez l'envoyer à nouveau.",
	"err_jid_empty":       "Saisissez votre adresse XMPP, par exemple nom@exemple.org.",
	"err_jid_invalid":     "Ce n'est pas une adresse XMPP\u00a0: elle doit ressembler à nom@exemple.org.",
	"err_jid_too_long":    "Cette adresse est trop longue.",
	"err_jid_ambiguous":   "Cette adresse contient un caractère que les serveurs XMPP lisent de plusieurs façons\u00a0: elle ne peut pas servir à se connecter. Saisissez-la comme votre serveur XMPP écrit votre compte (par exemple ss pour ß).",
	"err_jid_ip_literal":  "Une adresse sur une adresse IP (comme nom@10.0.0.5) ne peut pas se connecter à ce site.",
}
