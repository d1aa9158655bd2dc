/*
 * test_referral.c: the ferry-referral/1 document (agent/referral*.c).
 *
 * Every valid example in tests/vectors/referrals/ must validate, encode to
 * exactly the bytes an independent Python encoder produced
 * (tests/vectors/referrals/wire/), and decode back to an equal JSON
 * document.  Every rule of docs/referral-schema.md is broken once, by
 * editing a valid example, and must be refused with its exact error code
 * and message.  The wire decoder is given truncated, reordered, mistyped
 * and bit-flipped input.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ferry.h"
#include "../lib/harness.h"
#include "referral.h"
#include "wire.h"

/* 2026-11-28T12:00:00Z: the examples' dates are before it. */
#define NOW 1795867200000ULL
#define VEC "tests/vectors/referrals/"

static const char *valid[] = {
	"nrm-adult-labour", "nrm-child-sexual", "duty-to-notify",
	"safeguarding-adult", "housing-police-to-council",
	"health-charity-to-nhs", "crime-report", "response-council-accepted",
	"response-nhs-more-info", "response-charity-info-provided",
	"response-police-declined", "response-closed", NULL
};

static char *
slurp(const char *name, const char *ext, size_t *len)
{
	char path[1100];

	snprintf(path, sizeof(path), VEC "%s%s", name, ext);
	return ((char *)t_read_file(path, len));
}

static json_t *
load(const char *name)
{
	char path[1100];

	snprintf(path, sizeof(path), VEC "%s.json", name);
	return (json_load_file(path, 0, NULL));
}

/* Set (or with v == NULL delete) the field at dotted path p in d. */
static int
edit(json_t *d, const char *p, json_t *v)
{
	char buf[256], *dot, *key = buf;
	json_t *o = d;

	snprintf(buf, sizeof(buf), "%s", p);
	while ((dot = strchr(key, '.')) != NULL) {
		*dot = '\0';
		if ((o = json_object_get(o, key)) == NULL)
			return (-1);
		key = dot + 1;
	}
	if (v == NULL)
		return (json_object_del(o, key));
	return (json_object_set_new(o, key, v));
}

static int
check_doc(json_t *d, char *err, size_t errlen)
{
	char *s;
	int rc;

	if ((s = json_dumps(d, 0)) == NULL)
		return (-999);
	rc = referral_validate_json_at(s, strlen(s), NOW, err, errlen, NULL);
	free(s);
	return (rc);
}

struct mcase {
	const char *file;
	const char *p1, *v1;	/* v == NULL: delete */
	const char *p2, *v2;
	int code;
	const char *msg;
};

#define ES FERRY_ESCHEMA
static const struct mcase mcases[] = {
	/* consent */
	{ "nrm-adult-labour", "consent.referral", "false", NULL, NULL,
	    FERRY_ECONSENT, "consent.referral: adult NRM referral requires consent" },
	{ "nrm-adult-labour", "consent", NULL, NULL, NULL,
	    FERRY_ECONSENT, "consent: adult NRM referral requires consent" },
	{ "nrm-adult-labour", "consent.referral", NULL, NULL, NULL,
	    ES, "consent.referral: required" },
	{ "nrm-adult-labour", "consent.obtained_at", NULL, NULL, NULL,
	    ES, "consent.obtained_at: required when consent is given" },
	{ "nrm-adult-labour", "consent.obtained_by", NULL, NULL, NULL,
	    ES, "consent.obtained_by: required when consent is given" },
	{ "nrm-adult-labour", "consent.support", "\"yes\"", NULL, NULL,
	    ES, "consent.support: must be true or false" },
	{ "nrm-child-sexual", "consent",
	    "{\"referral\":false,\"support\":false,\"police_contact\":false}",
	    NULL, NULL, 0, NULL },
	{ "nrm-adult-labour", "age_group", "\"child\"", "consent.referral",
	    "false", 0, NULL },
	/* the version and kind */
	{ "nrm-adult-labour", "schema", "\"ferry-referral/2\"", "x", "1",
	    ES, "schema: must be \"ferry-referral/1\"" },
	{ "nrm-adult-labour", "schema", NULL, NULL, NULL,
	    ES, "schema: required" },
	{ "nrm-adult-labour", "schema", "1", NULL, NULL,
	    ES, "schema: must be \"ferry-referral/1\"" },
	{ "nrm-adult-labour", "message_kind", "\"letter\"", NULL, NULL,
	    ES, "message_kind: must be one of referral, response" },
	{ "nrm-adult-labour", "message_kind", NULL, NULL, NULL,
	    ES, "message_kind: required" },
	{ "nrm-adult-labour", "message_kind", "\"response\"", NULL, NULL,
	    ES, "referral_type: not allowed in a response" },
	/* enums */
	{ "nrm-adult-labour", "urgency", "\"high\"", NULL, NULL,
	    ES, "urgency: must be one of routine, urgent, emergency" },
	{ "nrm-adult-labour", "urgency", "2", NULL, NULL,
	    ES, "urgency: must be one of routine, urgent, emergency" },
	{ "nrm-adult-labour", "referral_type", "\"asylum\"", NULL, NULL,
	    ES, "referral_type: must be one of nrm, duty-to-notify, "
	    "safeguarding, housing, health, crime-report" },
	{ "nrm-adult-labour", "age_group", "\"elderly\"", NULL, NULL,
	    ES, "age_group: must be one of adult, child" },
	{ "nrm-adult-labour", "subject.sex", "\"M\"", NULL, NULL,
	    ES, "subject.sex: must be one of female, male, other, unknown" },
	/* required fields of a referral */
	{ "nrm-adult-labour", "case_id", NULL, NULL, NULL,
	    ES, "case_id: required" },
	{ "nrm-adult-labour", "referral_type", NULL, NULL, NULL,
	    ES, "referral_type: required" },
	{ "nrm-adult-labour", "urgency", NULL, NULL, NULL,
	    ES, "urgency: required" },
	{ "nrm-adult-labour", "age_group", NULL, NULL, NULL,
	    ES, "age_group: required" },
	{ "nrm-adult-labour", "subject", NULL, NULL, NULL,
	    ES, "subject: required" },
	{ "nrm-adult-labour", "narrative", NULL, NULL, NULL,
	    ES, "narrative: required" },
	{ "nrm-adult-labour", "referrer", NULL, NULL, NULL,
	    ES, "referrer: required" },
	{ "nrm-adult-labour", "exploitation", NULL, NULL, NULL,
	    ES, "exploitation: required for nrm" },
	{ "nrm-adult-labour", "indicators", NULL, NULL, NULL,
	    ES, "indicators: at least one required for nrm" },
	{ "nrm-adult-labour", "indicators", "[]", NULL, NULL,
	    ES, "indicators: at least one required for nrm" },
	{ "duty-to-notify", "exploitation", NULL, NULL, NULL,
	    ES, "exploitation: required for duty-to-notify" },
	{ "housing-police-to-council", "needs", NULL, NULL, NULL,
	    ES, "needs: required for housing" },
	{ "health-charity-to-nhs", "needs", NULL, NULL, NULL,
	    ES, "needs: required for health" },
	{ "safeguarding-adult", "indicators", "[]", NULL, NULL, 0, NULL },
	{ "nrm-adult-labour", "subject.given_name", NULL,
	    "subject.family_name", NULL, ES, "subject.given_name: required "
	    "(or subject.family_name; \"unknown\" if not known)" },
	{ "nrm-adult-labour", "subject.given_name", NULL, NULL, NULL,
	    0, NULL },
	{ "nrm-adult-labour", "referrer.phone", NULL, "referrer.email", NULL,
	    ES, "referrer.phone: required (or referrer.email)" },
	{ "nrm-adult-labour", "referrer.name", NULL, NULL, NULL,
	    ES, "referrer.name: required" },
	{ "nrm-adult-labour", "referrer.organisation", NULL, NULL, NULL,
	    ES, "referrer.organisation: required" },
	/* fields of a response refused in a referral */
	{ "nrm-adult-labour", "in_reply_to",
	    "\"3f9a1c0b7d2e4a6f8b1c2d3e4f5a6b7c\"", NULL, NULL,
	    ES, "in_reply_to: not allowed in a referral" },
	{ "nrm-adult-labour", "responder", "{\"name\":\"a\","
	    "\"organisation\":\"b\"}", NULL, NULL,
	    ES, "responder: not allowed in a referral" },
	/* unknown fields */
	{ "nrm-adult-labour", "priority", "1", NULL, NULL,
	    ES, "priority: unknown field" },
	{ "nrm-adult-labour", "subject.a\nb", "1", NULL, NULL,
	    ES, "subject.a?b: unknown field" },
	{ "nrm-adult-labour", "subject.eye_colour", "\"brown\"", NULL, NULL,
	    ES, "subject.eye_colour: unknown field" },
	{ "nrm-adult-labour", "subject.safe_contact.when", "\"9-5\"", NULL,
	    NULL, ES, "subject.safe_contact.when: unknown field" },
	/* dates */
	{ "nrm-adult-labour", "subject.date_of_birth", "\"1994-02-30\"",
	    NULL, NULL, ES, "subject.date_of_birth: not a date" },
	{ "nrm-adult-labour", "subject.date_of_birth", "\"17/03/1994\"",
	    NULL, NULL, ES, "subject.date_of_birth: not a date" },
	{ "nrm-adult-labour", "subject.date_of_birth", "\"1994-3-17\"",
	    NULL, NULL, ES, "subject.date_of_birth: not a date" },
	{ "nrm-adult-labour", "subject.date_of_birth", "\"1994-03\"",
	    NULL, NULL, ES, "subject.date_of_birth: not a date" },
	{ "nrm-adult-labour", "subject.date_of_birth", "\"1899-12-31\"",
	    NULL, NULL, ES, "subject.date_of_birth: not a date" },
	{ "nrm-adult-labour", "subject.date_of_birth", "\"2026-11-30\"",
	    NULL, NULL, ES, "subject.date_of_birth: in the future" },
	{ "nrm-adult-labour", "subject.date_of_birth", "\"2026-11-29\"",
	    NULL, NULL, 0, NULL },
	{ "nrm-adult-labour", "subject.date_of_birth", "\"2000-02-29\"",
	    NULL, NULL, 0, NULL },
	{ "nrm-adult-labour", "subject.date_of_birth", "\"1900-02-29\"",
	    NULL, NULL, ES, "subject.date_of_birth: not a date" },
	{ "nrm-adult-labour", "subject.date_of_birth", "19940317",
	    NULL, NULL, ES, "subject.date_of_birth: must be a string" },
	{ "nrm-adult-labour", "consent.obtained_at", "\"2026-13-01\"",
	    NULL, NULL, ES, "consent.obtained_at: not a date" },
	{ "nrm-adult-labour", "exploitation.started", "\"2025\"", NULL,
	    NULL, 0, NULL },
	{ "nrm-adult-labour", "exploitation.started", "\"2025-09-31\"", NULL,
	    NULL, ES, "exploitation.started: not a date" },
	{ "nrm-adult-labour", "exploitation.started", "\"2025-00\"", NULL,
	    NULL, ES, "exploitation.started: not a date" },
	{ "nrm-adult-labour", "exploitation.started", "\"2027\"", NULL,
	    NULL, ES, "exploitation.started: in the future" },
	{ "nrm-adult-labour", "exploitation.started", "\"25\"", NULL,
	    NULL, ES, "exploitation.started: not a date" },
	/* age */
	{ "nrm-adult-labour", "subject.age_estimate", "30", NULL, NULL,
	    ES, "subject.age_estimate: not allowed with subject.date_of_birth" },
	{ "nrm-adult-labour", "subject.date_of_birth", NULL,
	    "subject.age_estimate", "121", ES,
	    "subject.age_estimate: must be an integer from 0 to 120" },
	{ "nrm-adult-labour", "subject.date_of_birth", NULL,
	    "subject.age_estimate", "-1", ES,
	    "subject.age_estimate: must be an integer from 0 to 120" },
	{ "nrm-adult-labour", "subject.date_of_birth", NULL,
	    "subject.age_estimate", "30.0", ES,
	    "subject.age_estimate: must be an integer from 0 to 120" },
	{ "nrm-adult-labour", "subject.date_of_birth", NULL,
	    "subject.age_estimate", "\"30\"", ES,
	    "subject.age_estimate: must be an integer from 0 to 120" },
	{ "nrm-adult-labour", "subject.date_of_birth", NULL,
	    "subject.age_estimate", "0", 0, NULL },
	{ "nrm-adult-labour", "subject.date_of_birth", NULL,
	    "subject.age_estimate", "120", 0, NULL },
	/* strings */
	{ "nrm-adult-labour", "subject.given_name", "\"\"", NULL, NULL,
	    ES, "subject.given_name: must not be empty" },
	{ "nrm-adult-labour", "subject.given_name", "\"An\\u0001drei\"",
	    NULL, NULL, ES, "subject.given_name: control characters not allowed" },
	{ "nrm-adult-labour", "subject.given_name", "\"An\\ndrei\"",
	    NULL, NULL, ES, "subject.given_name: control characters not allowed" },
	{ "nrm-adult-labour", "subject.given_name", "\"Andr\\u00e9\"",
	    NULL, NULL, 0, NULL },
	{ "nrm-adult-labour", "narrative", "\"a\\r\\n\\tb\"", NULL, NULL,
	    0, NULL },
	{ "nrm-adult-labour", "narrative", "\"a\\u001bb\"", NULL, NULL,
	    ES, "narrative: control characters not allowed" },
	{ "nrm-adult-labour", "subject.nationality", "null", NULL, NULL,
	    ES, "subject.nationality: must be a string" },
	{ "nrm-adult-labour", "case_id", "\"CASE 12\"", NULL, NULL,
	    ES, "case_id: must be letters, digits, '.', '_', '-' and start "
	    "with a letter or digit" },
	{ "nrm-adult-labour", "case_id", "\"../etc\"", NULL, NULL,
	    ES, "case_id: must be letters, digits, '.', '_', '-' and start "
	    "with a letter or digit" },
	{ "nrm-adult-labour", "case_id", "\"a/b\"", NULL, NULL,
	    ES, "case_id: must be letters, digits, '.', '_', '-' and start "
	    "with a letter or digit" },
	{ "nrm-adult-labour", "referrer.email", "\"a.okafor\"", NULL, NULL,
	    ES, "referrer.email: not an email address" },
	{ "nrm-adult-labour", "referrer.email", "\"a@b@c.org\"", NULL, NULL,
	    ES, "referrer.email: not an email address" },
	{ "nrm-adult-labour", "referrer.email", "\"a@localhost\"", NULL, NULL,
	    ES, "referrer.email: not an email address" },
	{ "nrm-adult-labour", "referrer.phone", "\"call me\"", NULL, NULL,
	    ES, "referrer.phone: not a phone number" },
	{ "nrm-adult-labour", "referrer.phone", "\"07+700\"", NULL, NULL,
	    ES, "referrer.phone: not a phone number" },
	{ "nrm-adult-labour", "referrer.phone", "\"(020) 7946-0321\"", NULL,
	    NULL, 0, NULL },
	/* objects and arrays */
	{ "nrm-adult-labour", "subject", "[]", NULL, NULL,
	    ES, "subject: must be an object" },
	{ "nrm-adult-labour", "subject.aliases", "\"Andy\"", NULL, NULL,
	    ES, "subject.aliases: must be an array" },
	{ "nrm-adult-labour", "subject.aliases", "[\"Andy\", 7]", NULL, NULL,
	    ES, "subject.aliases[1]: must be a string" },
	{ "nrm-adult-labour", "subject.aliases", "[]", NULL, NULL, 0, NULL },
	{ "nrm-adult-labour", "subject.languages", "[\"a\",\"b\",\"c\",\"d\","
	    "\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\","
	    "\"o\",\"p\",\"q\"]", NULL, NULL,
	    ES, "subject.languages: more than 16 items" },
	{ "nrm-adult-labour", "exploitation.types", "[]", NULL, NULL,
	    ES, "exploitation.types: must have at least 1 item" },
	{ "nrm-adult-labour", "exploitation.types", NULL, NULL, NULL,
	    ES, "exploitation.types: required" },
	{ "nrm-adult-labour", "exploitation.types", "[\"labour\",\"labour\"]",
	    NULL, NULL, ES, "exploitation.types[1]: repeats an earlier item" },
	{ "nrm-adult-labour", "exploitation.types", "[\"slavery\"]", NULL,
	    NULL, ES, "exploitation.types[0]: must be one of labour, sexual, "
	    "criminal, domestic-servitude, organ-removal, financial, other" },
	{ "nrm-adult-labour", "exploitation.types", "[\"labour\",\"sexual\","
	    "\"criminal\",\"domestic-servitude\",\"organ-removal\","
	    "\"financial\",\"other\"]", NULL, NULL, 0, NULL },
	{ "nrm-adult-labour", "indicators", "[1]", NULL, NULL,
	    ES, "indicators[0]: must be a string" },
	{ "nrm-adult-labour", "needs.medical", NULL, NULL, NULL,
	    ES, "needs.medical: required" },
	{ "nrm-adult-labour", "needs.other", "[\"\"]", NULL, NULL,
	    ES, "needs.other[0]: must not be empty" },
	/* safe contact */
	{ "nrm-adult-labour", "subject.safe_contact.method", "\"pigeon\"",
	    NULL, NULL, ES, "subject.safe_contact.method: must be one of "
	    "phone, email, via-referrer, none" },
	{ "nrm-adult-labour", "subject.safe_contact.method", NULL, NULL, NULL,
	    ES, "subject.safe_contact.method: required" },
	{ "nrm-adult-labour", "subject.safe_contact.method", "\"phone\"",
	    NULL, NULL, ES, "subject.safe_contact.details: not a phone number" },
	{ "nrm-adult-labour", "subject.safe_contact.method", "\"email\"",
	    NULL, NULL, ES, "subject.safe_contact.details: not an email address" },
	{ "nrm-adult-labour", "subject.safe_contact.method", "\"none\"",
	    NULL, NULL, ES,
	    "subject.safe_contact.details: not allowed when method is none" },
	{ "nrm-adult-labour", "subject.safe_contact",
	    "{\"method\":\"phone\"}", NULL, NULL, ES,
	    "subject.safe_contact.details: required when method is phone" },
	{ "nrm-adult-labour", "subject.safe_contact",
	    "{\"method\":\"email\",\"details\":\"a@b.org\"}", NULL, NULL,
	    0, NULL },
	/* Duty to Notify is anonymous */
	{ "duty-to-notify", "subject.given_name", "\"Rosa\"", NULL, NULL,
	    ES, "subject.given_name: not allowed in duty-to-notify (anonymous)" },
	{ "duty-to-notify", "subject.family_name", "\"Cruz\"", NULL, NULL,
	    ES, "subject.family_name: not allowed in duty-to-notify (anonymous)" },
	{ "duty-to-notify", "subject.aliases", "[]", NULL, NULL,
	    ES, "subject.aliases: not allowed in duty-to-notify (anonymous)" },
	{ "duty-to-notify", "subject.date_of_birth", "\"1990-01-01\"",
	    "subject.age_estimate", NULL, ES,
	    "subject.date_of_birth: not allowed in duty-to-notify (anonymous)" },
	{ "duty-to-notify", "subject.safe_contact",
	    "{\"method\":\"phone\",\"details\":\"07700 900123\"}", NULL, NULL,
	    ES, "subject.safe_contact.details: not allowed in duty-to-notify "
	    "(anonymous)" },
	{ "duty-to-notify", "subject.safe_contact",
	    "{\"method\":\"via-referrer\"}", NULL, NULL, 0, NULL },
	{ "duty-to-notify", "attachments", "[{\"name\":\"a.txt\","
	    "\"media_type\":\"text/plain\",\"data_base64\":\"aGk=\"}]",
	    NULL, NULL, ES,
	    "attachments: not allowed in duty-to-notify (anonymous)" },
	{ "duty-to-notify", "age_group", "\"child\"", NULL, NULL, ES,
	    "age_group: duty-to-notify is for adults; refer a child through nrm" },
	{ "duty-to-notify", "consent", NULL, NULL, NULL, 0, NULL },
	{ "duty-to-notify", "subject.given_name", "\"Rosa\"",
	    "referral_type", "\"safeguarding\"", 0, NULL },
	/* attachments */
	{ "health-charity-to-nhs", "attachments", "[]", NULL, NULL, 0, NULL },
	{ "health-charity-to-nhs", "attachments", "{}", NULL, NULL,
	    ES, "attachments: must be an array" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"a.txt\","
	    "\"media_type\":\"text/plain\",\"data_base64\":\"aGk\"}]", NULL,
	    NULL, ES, "attachments[0].data_base64: not base64 (RFC 4648, "
	    "padded, no whitespace)" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"a.txt\","
	    "\"media_type\":\"text/plain\",\"data_base64\":\"aGl=\"}]", NULL,
	    NULL, ES, "attachments[0].data_base64: not base64 (RFC 4648, "
	    "padded, no whitespace)" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"a.txt\","
	    "\"media_type\":\"text/plain\",\"data_base64\":\"aG k=\"}]", NULL,
	    NULL, ES, "attachments[0].data_base64: not base64 (RFC 4648, "
	    "padded, no whitespace)" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"a.txt\","
	    "\"media_type\":\"text/plain\",\"data_base64\":\"a-_=\"}]", NULL,
	    NULL, ES, "attachments[0].data_base64: not base64 (RFC 4648, "
	    "padded, no whitespace)" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"a.txt\","
	    "\"media_type\":\"text/plain\",\"data_base64\":\"\"}]", NULL,
	    NULL, ES, "attachments[0].data_base64: attachment is empty" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"../x\","
	    "\"media_type\":\"text/plain\",\"data_base64\":\"aGk=\"}]", NULL,
	    NULL, ES, "attachments[0].name: not a file name (no '/', '\\', "
	    "leading '.')" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"a\\\\b\","
	    "\"media_type\":\"text/plain\",\"data_base64\":\"aGk=\"}]", NULL,
	    NULL, ES, "attachments[0].name: not a file name (no '/', '\\', "
	    "leading '.')" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"a.txt\","
	    "\"media_type\":\"Text/Plain\",\"data_base64\":\"aGk=\"}]", NULL,
	    NULL, ES, "attachments[0].media_type: not a media type "
	    "(lowercase type/subtype)" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"a.txt\","
	    "\"media_type\":\"text\",\"data_base64\":\"aGk=\"}]", NULL,
	    NULL, ES, "attachments[0].media_type: not a media type "
	    "(lowercase type/subtype)" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"a.txt\","
	    "\"media_type\":\"text/plain\"}]", NULL,
	    NULL, ES, "attachments[0].data_base64: required" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"a.txt\","
	    "\"media_type\":\"text/plain\",\"data_base64\":\"aGk=\","
	    "\"size\":2}]", NULL,
	    NULL, ES, "attachments[0].size: unknown field" },
	{ "health-charity-to-nhs", "attachments", "[{\"name\":\"scan.pdf\","
	    "\"media_type\":\"application/pdf\",\"data_base64\":\"aGk=\"},"
	    "{\"name\":\"photo 1.jpg\",\"media_type\":\"image/jpeg\","
	    "\"data_base64\":\"/9j/4AA=\"}]", NULL, NULL, 0, NULL },
	/* responses */
	{ "response-police-declined", "reason", NULL, NULL, NULL,
	    ES, "reason: required when response is declined" },
	{ "response-nhs-more-info", "reason", NULL, NULL, NULL,
	    ES, "reason: required when response is more-information-needed" },
	{ "response-council-accepted", "in_reply_to",
	    "\"3F9A1C0B7D2E4A6F8B1C2D3E4F5A6B7C\"", NULL, NULL,
	    ES, "in_reply_to: must be a message id (32 lowercase hex digits)" },
	{ "response-council-accepted", "in_reply_to",
	    "\"3f9a1c0b7d2e4a6f8b1c2d3e4f5a6b7\"", NULL, NULL,
	    ES, "in_reply_to: must be a message id (32 lowercase hex digits)" },
	{ "response-council-accepted", "in_reply_to", NULL, NULL, NULL,
	    ES, "in_reply_to: required" },
	{ "response-council-accepted", "case_id", NULL, NULL, NULL,
	    ES, "case_id: required" },
	{ "response-council-accepted", "response", NULL, NULL, NULL,
	    ES, "response: required" },
	{ "response-council-accepted", "response", "\"maybe\"", NULL, NULL,
	    ES, "response: must be one of accepted, declined, "
	    "more-information-needed, information-provided, closed" },
	{ "response-council-accepted", "responder", NULL, NULL, NULL,
	    ES, "responder: required" },
	{ "response-council-accepted", "responder.name", NULL, NULL, NULL,
	    ES, "responder.name: required" },
	{ "response-council-accepted", "subject", "{}", NULL, NULL,
	    ES, "subject: not allowed in a response" },
	{ "response-council-accepted", "urgency", "\"urgent\"", NULL, NULL,
	    ES, "urgency: not allowed in a response" },
	{ "response-council-accepted", "reason", "\"x\"", "narrative", NULL,
	    0, NULL },
	{ "response-council-accepted", "message_kind", "\"referral\"", NULL,
	    NULL, ES, "in_reply_to: not allowed in a referral" },
	{ NULL, NULL, NULL, NULL, NULL, 0, NULL }
};

TEST(valid_examples_validate)
{
	char err[REFERRAL_ERR_MAX];
	struct referral_info info;
	size_t len;
	char *s;
	int i, rc;

	for (i = 0; valid[i] != NULL; i++) {
		CHECK((s = slurp(valid[i], ".json", &len)) != NULL);
		rc = referral_validate_json_at(s, len, NOW, err, sizeof(err),
		    &info);
		if (rc != 0)
			printf("# %s: %s\n", valid[i], err);
		CHECK_EQ(rc, 0);
		CHECK_EQ(err[0], '\0');
		/* The real clock is later than the examples' dates. */
		CHECK_EQ(referral_validate_json(s, len, NULL, 0, NULL), 0);
		free(s);
	}
}

TEST(info)
{
	static const uint8_t id[16] = { 0x3f, 0x9a, 0x1c, 0x0b, 0x7d, 0x2e,
	    0x4a, 0x6f, 0x8b, 0x1c, 0x2d, 0x3e, 0x4f, 0x5a, 0x6b, 0x7c };
	struct referral_info info;
	size_t len;
	char *s;

	CHECK((s = slurp("nrm-adult-labour", ".json", &len)) != NULL);
	CHECK_EQ(referral_validate_json_at(s, len, NOW, NULL, 0, &info), 0);
	free(s);
	CHECK_EQ(info.kind, REFERRAL_KIND_REFERRAL);
	CHECK(strcmp(info.message_kind, "referral") == 0);
	CHECK(strcmp(info.referral_type, "nrm") == 0);
	CHECK(strcmp(info.urgency, "urgent") == 0);
	CHECK(strcmp(info.age_group, "adult") == 0);
	CHECK(info.response == NULL);
	CHECK(strcmp(info.case_id, "EERC-2026-0412") == 0);
	CHECK_EQ(info.has_in_reply_to, 0);
	CHECK_EQ(info.attachments, 0);

	CHECK((s = slurp("health-charity-to-nhs", ".json", &len)) != NULL);
	CHECK_EQ(referral_validate_json_at(s, len, NOW, NULL, 0, &info), 0);
	free(s);
	CHECK_EQ(info.attachments, 1);
	CHECK_EQ(info.attachment_bytes, 58);

	CHECK((s = slurp("response-council-accepted", ".json", &len)) != NULL);
	CHECK_EQ(referral_validate_json_at(s, len, NOW, NULL, 0, &info), 0);
	free(s);
	CHECK_EQ(info.kind, REFERRAL_KIND_RESPONSE);
	CHECK(strcmp(info.message_kind, "response") == 0);
	CHECK(strcmp(info.response, "accepted") == 0);
	CHECK(info.referral_type == NULL && info.urgency == NULL);
	CHECK(strcmp(info.case_id, "MET-2026-88213") == 0);
	CHECK_EQ(info.has_in_reply_to, 1);
	CHECK(memcmp(info.in_reply_to, id, 16) == 0);
}

/* JSON -> wire equals the independent Python encoding; wire -> JSON equal. */
TEST(round_trip_and_golden_wire)
{
	char err[REFERRAL_ERR_MAX], *s, *back, path[512];
	uint8_t *w, *golden;
	size_t len, wl, gl;
	json_t *a, *b;
	int i;

	for (i = 0; valid[i] != NULL; i++) {
		CHECK((s = slurp(valid[i], ".json", &len)) != NULL);
		CHECK_EQ(referral_json_to_wire_at(s, len, NOW, &w, &wl, err,
		    sizeof(err), NULL), 0);
		snprintf(path, sizeof(path), "wire/%s", valid[i]);
		CHECK((golden = (uint8_t *)slurp(path, ".msgpack", &gl)) !=
		    NULL);
		CHECK_EQ(wl, gl);
		CHECK(memcmp(w, golden, wl) == 0);
		CHECK_EQ(wire_scan(w, wl, REFERRAL_WIRE_DEPTH), 0);
		CHECK_EQ(referral_wire_to_json_at(golden, gl, NOW, &back, err,
		    sizeof(err), NULL), 0);
		CHECK(back[strlen(back) - 1] == '\n');
		CHECK((a = json_loadb(s, len, 0, NULL)) != NULL);
		CHECK((b = json_loads(back, 0, NULL)) != NULL);
		CHECK(json_equal(a, b));
		/* The decoded text is itself a valid document. */
		CHECK_EQ(referral_validate_json_at(back, strlen(back), NOW,
		    NULL, 0, NULL), 0);
		/* And the simple forms agree. */
		free(back);
		CHECK_EQ(referral_wire_to_json(w, wl, &back), 0);
		free(back);
		free(w);
		CHECK_EQ(referral_json_to_wire(s, len, &w, &wl, NULL, 0), 0);
		CHECK_EQ(wl, gl);
		json_decref(a);
		json_decref(b);
		free(golden);
		free(s);
		free(w);
	}
}

/*
 * The recipient's JSON text is written from the msgpack objects, not by
 * jansson: it must be, byte for byte, what json_dumps(JSON_INDENT(2) |
 * JSON_PRESERVE_ORDER) writes for the same document, plus a newline, for
 * every example and for strings holding what jansson escapes ('"', '\\',
 * tab, newline, carriage return), what it does not ('/', non-ASCII, the
 * 4-byte form), an attachment (base64) and a message id (hex, in the
 * response examples).
 */
static uint8_t *wire_of(const char *, size_t *);

/* Whether ${text} is what jansson writes for it, and a newline. */
static int
jansson_text(const char *text)
{
	json_t *d;
	char *dump;
	int same;

	if ((d = json_loads(text, 0, NULL)) == NULL)
		return (0);
	dump = json_dumps(d, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	same = dump != NULL && strlen(text) == strlen(dump) + 1 &&
	    memcmp(text, dump, strlen(dump)) == 0 && text[strlen(dump)] ==
	    '\n';
	free(dump);
	json_decref(d);
	return (same);
}

TEST(wire_json_text_as_jansson)
{
	/* JSON string literals (escapes as JSON writes them). */
	static const char *const texts[] = {
	    "\"a \\\"quoted\\\" \\\\ path/to\\ttab\\r\\nnew line\"",
	    "\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \\u00ff/\"", "\"x\"", NULL };
	char *s, *back;
	uint8_t *w;
	size_t wl;
	json_t *d, *e, *name;
	int i;

	for (i = 0; valid[i] != NULL; i++) {
		CHECK((w = wire_of(valid[i], &wl)) != NULL);
		CHECK_EQ(referral_wire_to_json_at(w, wl, NOW, &back, NULL, 0,
		    NULL), 0);
		CHECK(jansson_text(back));
		free(back);
		free(w);
	}
	CHECK((name = json_loads(texts[1], JSON_DECODE_ANY, NULL)) != NULL);
	for (i = 0; texts[i] != NULL; i++) {
		CHECK((d = load("health-charity-to-nhs")) != NULL);
		CHECK((e = json_loads(texts[i], JSON_DECODE_ANY, NULL)) !=
		    NULL);
		CHECK_EQ(edit(d, "narrative", e), 0);
		CHECK_EQ(edit(d, "referrer.name", json_copy(name)), 0);
		CHECK((s = json_dumps(d, 0)) != NULL);
		json_decref(d);
		CHECK_EQ(referral_json_to_wire_at(s, strlen(s), NOW, &w, &wl,
		    NULL, 0, NULL), 0);
		CHECK_EQ(referral_wire_to_json_at(w, wl, NOW, &back, NULL, 0,
		    NULL), 0);
		CHECK(jansson_text(back));
		CHECK(i > 0 || (strstr(back, "\\\"quoted\\\" \\\\ "
		    "path/to\\ttab\\r\\nnew") != NULL));
		CHECK(strstr(back, "\"data_base64\": \"") != NULL);
		free(back);
		free(w);
		free(s);
	}
	json_decref(name);
	/* Empty containers: "[]" and "{}" as jansson writes them. */
	CHECK((d = load("duty-to-notify")) != NULL);
	CHECK_EQ(edit(d, "subject", json_object()), 0);
	CHECK_EQ(edit(d, "needs", json_pack("{s:b, s:b, s:b, s:[]}",
	    "accommodation", 0, "medical", 0, "immediate_threat", 0,
	    "other")), 0);
	CHECK((s = json_dumps(d, 0)) != NULL);
	json_decref(d);
	CHECK_EQ(referral_json_to_wire_at(s, strlen(s), NOW, &w, &wl, NULL, 0,
	    NULL), 0);
	CHECK_EQ(referral_wire_to_json_at(w, wl, NOW, &back, NULL, 0, NULL),
	    0);
	CHECK(jansson_text(back));
	CHECK(strstr(back, "\"subject\": {},") != NULL);
	CHECK(strstr(back, "\"other\": []") != NULL);
	free(back);
	free(w);
	free(s);
}

/* Whitespace and key order in the JSON do not change the wire bytes. */
TEST(wire_is_canonical)
{
	uint8_t *w1, *w2;
	size_t l1, l2;
	char *s, *compact;
	size_t len;
	json_t *d;

	CHECK((s = slurp("nrm-adult-labour", ".json", &len)) != NULL);
	CHECK((d = json_loadb(s, len, 0, NULL)) != NULL);
	CHECK((compact = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT)) !=
	    NULL);
	CHECK_EQ(referral_json_to_wire_at(s, len, NOW, &w1, &l1, NULL, 0,
	    NULL), 0);
	CHECK_EQ(referral_json_to_wire_at(compact, strlen(compact), NOW, &w2,
	    &l2, NULL, 0, NULL), 0);
	CHECK_EQ(l1, l2);
	CHECK(memcmp(w1, w2, l1) == 0);
	free(w1);
	free(w2);
	free(compact);
	json_decref(d);
	free(s);
}

TEST(rules_refused_with_exact_messages)
{
	char err[REFERRAL_ERR_MAX];
	const struct mcase *m;
	json_t *d, *v;
	int rc, n = 0;

	for (m = mcases; m->file != NULL; m++, n++) {
		CHECK((d = load(m->file)) != NULL);
		if (m->v1 != NULL)
			CHECK((v = json_loads(m->v1, JSON_DECODE_ANY, NULL)) !=
			    NULL);
		else
			v = NULL;
		if (edit(d, m->p1, v) != 0) {
			printf("# case %d: cannot edit %s\n", n, m->p1);
			t_failed_now = 1;
			json_decref(d);
			continue;
		}
		if (m->p2 != NULL) {
			if (m->v2 != NULL)
				CHECK((v = json_loads(m->v2, JSON_DECODE_ANY,
				    NULL)) != NULL);
			else
				v = NULL;
			CHECK_EQ(edit(d, m->p2, v), 0);
		}
		rc = check_doc(d, err, sizeof(err));
		if (rc != m->code || (m->msg != NULL &&
		    strcmp(err, m->msg) != 0) || (m->msg == NULL && err[0])) {
			printf("# case %d (%s %s): got %d \"%s\", want %d "
			    "\"%s\"\n", n, m->file, m->p1, rc, err, m->code,
			    m->msg ? m->msg : "");
			t_failed_now = 1;
		}
		json_decref(d);
	}
	CHECK(n > 120);
}

/* A field path longer than the path buffer (160) is cut to 159 bytes in
 * the message, as snprintf cut it: an unknown member named with 300
 * bytes inside subject, and an array index after a cut path. */
TEST(long_path_cut)
{
	char err[REFERRAL_ERR_MAX], want[REFERRAL_ERR_MAX], name[301];
	json_t *d;

	memset(name, 'x', 300);
	name[300] = '\0';
	CHECK((d = load("nrm-adult-labour")) != NULL);
	if (d == NULL)
		return;
	CHECK_EQ(json_object_set_new(json_object_get(d, "subject"), name,
	    json_integer(1)), 0);
	CHECK_EQ(check_doc(d, err, sizeof(err)), FERRY_ESCHEMA);
	snprintf(want, sizeof(want), "subject.%.151s: unknown field", name);
	CHECK(strcmp(err, want) == 0);
	CHECK_EQ(strlen(err) - strlen(": unknown field"), 159);
	json_decref(d);
}

/* Length limits, counted in bytes. */
TEST(lengths)
{
	char err[REFERRAL_ERR_MAX], *big;
	json_t *d;

	CHECK((big = malloc(REFERRAL_NARRATIVE_MAX + 2)) != NULL);
	memset(big, 'a', REFERRAL_NARRATIVE_MAX + 1);
	big[REFERRAL_NARRATIVE_MAX + 1] = '\0';
	CHECK((d = load("nrm-adult-labour")) != NULL);
	CHECK_EQ(edit(d, "narrative", json_string(big)), 0);
	CHECK_EQ(check_doc(d, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strcmp(err, "narrative: longer than 65536 bytes") == 0);
	big[REFERRAL_NARRATIVE_MAX] = '\0';
	CHECK_EQ(edit(d, "narrative", json_string(big)), 0);
	CHECK_EQ(check_doc(d, err, sizeof(err)), 0);
	/* 128 bytes of name is fine, 129 is not; UTF-8 counts bytes. */
	big[128] = '\0';
	CHECK_EQ(edit(d, "subject.given_name", json_string(big)), 0);
	CHECK_EQ(check_doc(d, err, sizeof(err)), 0);
	memcpy(big + 126, "\xc3\xa9", 3);	/* 126 + 2 bytes: é */
	CHECK_EQ(edit(d, "subject.given_name", json_string(big)), 0);
	CHECK_EQ(check_doc(d, err, sizeof(err)), 0);
	big[126] = 'a';
	memcpy(big + 127, "\xc3\xa9", 3);	/* 127 + 2 bytes */
	CHECK_EQ(edit(d, "subject.given_name", json_string(big)), 0);
	CHECK_EQ(check_doc(d, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strcmp(err, "subject.given_name: longer than 128 bytes") == 0);
	json_decref(d);
	free(big);
}

static json_t *
attachment(size_t n)
{
	unsigned char *bin;
	char *b64;
	size_t b64len = sodium_base64_ENCODED_LEN(n,
	    sodium_base64_VARIANT_ORIGINAL);
	json_t *a;

	if ((bin = calloc(1, n)) == NULL || (b64 = malloc(b64len)) == NULL)
		return (NULL);
	sodium_bin2base64(b64, b64len, bin, n, sodium_base64_VARIANT_ORIGINAL);
	a = json_pack("{s:s, s:s, s:s}", "name", "scan.bin", "media_type",
	    "application/octet-stream", "data_base64", b64);
	free(bin);
	free(b64);
	return (a);
}

TEST(attachment_limits)
{
	char err[REFERRAL_ERR_MAX], *s, *back;
	uint8_t *w;
	size_t wl;
	struct referral_info info;
	json_t *d, *arr;
	int i;

	/* Two attachments of exactly half the total limit: accepted. */
	CHECK((d = load("health-charity-to-nhs")) != NULL);
	CHECK((arr = json_array()) != NULL);
	CHECK_EQ(json_array_append_new(arr,
	    attachment(REFERRAL_ATTACH_MAX / 2)), 0);
	CHECK_EQ(json_array_append_new(arr,
	    attachment(REFERRAL_ATTACH_MAX / 2)), 0);
	CHECK_EQ(edit(d, "attachments", arr), 0);
	CHECK((s = json_dumps(d, 0)) != NULL);
	CHECK_EQ(referral_json_to_wire_at(s, strlen(s), NOW, &w, &wl, err,
	    sizeof(err), &info), 0);
	CHECK_EQ(info.attachments, 2);
	CHECK_EQ(info.attachment_bytes, REFERRAL_ATTACH_MAX);
	CHECK(wl < REFERRAL_WIRE_MAX);
	CHECK_EQ(referral_wire_to_json_at(w, wl, NOW, &back, err, sizeof(err),
	    NULL), 0);
	free(back);
	free(w);
	free(s);
	/* One byte more in total: refused, naming the attachment. */
	CHECK_EQ(json_array_append_new(arr, attachment(1)), 0);
	CHECK_EQ(check_doc(d, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strcmp(err, "attachments[2].data_base64: attachments larger "
	    "than 16777216 bytes in total") == 0);
	/* One attachment over the limit. */
	CHECK_EQ(edit(d, "attachments", json_array()), 0);
	arr = json_object_get(d, "attachments");
	CHECK_EQ(json_array_append_new(arr,
	    attachment(REFERRAL_ATTACH_MAX + 1)), 0);
	CHECK_EQ(check_doc(d, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strcmp(err, "attachments[0].data_base64: attachment larger "
	    "than 16777216 bytes") == 0);
	/* At most 16 attachments. */
	CHECK_EQ(edit(d, "attachments", json_array()), 0);
	arr = json_object_get(d, "attachments");
	for (i = 0; i < 17; i++)
		CHECK_EQ(json_array_append_new(arr, attachment(3)), 0);
	CHECK_EQ(check_doc(d, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strcmp(err, "attachments: more than 16 items") == 0);
	json_decref(d);
}

static int
vj(const char *s, char *err, size_t errlen)
{

	return (referral_validate_json_at(s, strlen(s), NOW, err, errlen,
	    NULL));
}

TEST(not_json)
{
	char err[REFERRAL_ERR_MAX], deep[64];
	size_t i;

	CHECK_EQ(vj("", err, sizeof(err)), FERRY_EJSON);
	CHECK(strncmp(err, "json: ", 6) == 0);
	CHECK_EQ(vj("not json", err, sizeof(err)), FERRY_EJSON);
	CHECK_EQ(vj("{\"schema\":\"ferry-referral/1\"} x", err, sizeof(err)),
	    FERRY_EJSON);
	CHECK_EQ(vj("{\"schema\":\"ferry-referral/1\","
	    "\"schema\":\"ferry-referral/1\"}", err, sizeof(err)),
	    FERRY_EJSON);
	CHECK(strstr(err, "duplicate") != NULL);
	CHECK_EQ(vj("{\"schema\":\"ferry-referral/1\\u0000\"}", err,
	    sizeof(err)), FERRY_EJSON);
	CHECK_EQ(vj("{\"schema\":\"\xff\"}", err, sizeof(err)), FERRY_EJSON);
	CHECK_EQ(vj("{\"schema\":\"\xc0\xaf\"}", err, sizeof(err)),
	    FERRY_EJSON);
	CHECK_EQ(vj("{\"a\":1e999999}", err, sizeof(err)), FERRY_EJSON);
	CHECK_EQ(vj("{\"a\":99999999999999999999999}", err, sizeof(err)),
	    FERRY_EJSON);
	/* Nesting: 8 levels parse (then fail the schema), 9 do not. */
	for (i = 0; i < 8; i++)
		deep[i] = '[';
	for (i = 8; i < 16; i++)
		deep[i] = ']';
	deep[16] = '\0';
	CHECK_EQ(vj(deep, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strcmp(err, "document: must be a JSON object") == 0);
	memmove(deep + 1, deep, 17);
	deep[0] = '[';
	deep[17] = ']';
	deep[18] = '\0';
	CHECK_EQ(vj(deep, err, sizeof(err)), FERRY_EJSON);
	CHECK(strcmp(err, "json: nested deeper than 8") == 0);
	/* Brackets inside strings do not count. */
	CHECK_EQ(vj("{\"schema\":\"[[[[[[[[[[\\\"{{{{{{{{{\"}", err,
	    sizeof(err)), FERRY_ESCHEMA);
	CHECK(strcmp(err, "schema: must be \"ferry-referral/1\"") == 0);
	CHECK_EQ(vj("{}", err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strcmp(err, "schema: required") == 0);
	CHECK_EQ(vj("\"ferry-referral/1\"", err, sizeof(err)), FERRY_EJSON);
	/* Too many members and items, refused before parsing. */
	{
		char *many = malloc(2 * 5000 + 3);
		size_t k;

		CHECK(many != NULL);
		many[0] = '[';
		for (k = 0; k < 5000; k++)
			memcpy(many + 1 + 2 * k, "1,", 2);
		memcpy(many + 1 + 2 * 5000 - 1, "1]", 3);
		CHECK_EQ(vj(many, err, sizeof(err)), FERRY_EJSON);
		free(many);
		CHECK(strcmp(err, "json: more than 4096 members and items")
		    == 0);
	}
	/* Over the size limit, refused before parsing. */
	CHECK_EQ(referral_validate_json_at("{}", REFERRAL_JSON_MAX + 1, NOW,
	    err, sizeof(err), NULL), FERRY_EJSON);
	CHECK(strcmp(err, "json: larger than 25165824 bytes") == 0);
	/* A small err buffer is truncated, never overrun. */
	CHECK_EQ(vj("{}", err, 5), FERRY_ESCHEMA);
	CHECK(strcmp(err, "sche") == 0);
}

/* Valid wire bytes for a test, with the buffer owned by the caller. */
static uint8_t *
wire_of(const char *name, size_t *wl)
{
	uint8_t *w = NULL;
	size_t len;
	char *s;

	if ((s = slurp(name, ".json", &len)) == NULL)
		return (NULL);
	if (referral_json_to_wire_at(s, len, NOW, &w, wl, NULL, 0, NULL) != 0)
		w = NULL;
	free(s);
	return (w);
}

static int
dec(const uint8_t *w, size_t wl, char *err, size_t errlen)
{
	char *j = NULL;
	int rc;

	rc = referral_wire_to_json_at(w, wl, NOW, &j, err, errlen, NULL);
	if ((rc == 0) != (j != NULL))
		return (-9999);
	free(j);
	return (rc);
}

TEST(wire_truncated_and_trailing)
{
	char err[REFERRAL_ERR_MAX];
	uint8_t *w, *x;
	size_t wl, i;

	CHECK((w = wire_of("nrm-adult-labour", &wl)) != NULL);
	for (i = 0; i < wl; i++)
		CHECK_EQ(dec(w, i, err, sizeof(err)), FERRY_ETRUNCATED);
	CHECK((x = malloc(wl + 1)) != NULL);
	memcpy(x, w, wl);
	x[wl] = 0x00;
	CHECK_EQ(dec(x, wl + 1, err, sizeof(err)), FERRY_ETRAILING);
	CHECK(strcmp(err, "document: trailing bytes after the message") == 0);
	free(x);
	free(w);
}

/* Build a document by hand with the wire helpers. */
static uint8_t *
hand(int variant, size_t *len)
{
	static const uint8_t id[16] = { 1 };
	struct wire_buf w;
	uint8_t *out;

	wire_buf_init(&w);
	switch (variant) {
	case 0:	/* a valid "closed" response */
	case 1:	/* ... with field 20 */
	case 2:	/* ... with fields 3 and 2 swapped */
	case 3:	/* ... with field 2 twice */
	case 4:	/* ... with in_reply_to of 15 bytes */
	case 5:	/* ... with case_id as a bin */
	case 6:	/* ... with a string map key */
	case 7:	/* ... with responder as an array */
		wire_put_map(&w, variant == 1 || variant == 3 ? 7 : 6);
		wire_put_uint(&w, 1);
		wire_put_cstr(&w, REFERRAL_SCHEMA);
		if (variant == 2) {
			wire_put_uint(&w, 3);
			wire_put_cstr(&w, "C-1");
			wire_put_uint(&w, 2);
			wire_put_cstr(&w, "response");
		} else {
			wire_put_uint(&w, 2);
			wire_put_cstr(&w, "response");
			if (variant == 3) {
				wire_put_uint(&w, 2);
				wire_put_cstr(&w, "response");
			}
			if (variant == 6)
				wire_put_cstr(&w, "case_id");
			else
				wire_put_uint(&w, 3);
			if (variant == 5)
				wire_put_bin(&w, "C-1", 3);
			else
				wire_put_cstr(&w, "C-1");
		}
		wire_put_uint(&w, 16);
		wire_put_bin(&w, id, variant == 4 ? 15 : 16);
		wire_put_uint(&w, 17);
		wire_put_cstr(&w, "closed");
		wire_put_uint(&w, 19);
		if (variant == 7)
			wire_put_array(&w, 2);
		else
			wire_put_map(&w, 2);
		if (variant != 7)
			wire_put_uint(&w, 1);
		wire_put_cstr(&w, "A Person");
		if (variant != 7)
			wire_put_uint(&w, 3);
		wire_put_cstr(&w, "nhs-uclh");
		if (variant == 1) {
			wire_put_uint(&w, 20);
			wire_put_cstr(&w, "extra");
		}
		break;
	case 8:	/* nested one level too deep */
		wire_put_map(&w, 1);
		wire_put_uint(&w, 8);
		wire_put_map(&w, 1);
		wire_put_uint(&w, 10);
		wire_put_map(&w, 1);
		wire_put_uint(&w, 1);
		wire_put_array(&w, 0);
		break;
	case 9:	/* not a map */
		wire_put_array(&w, 0);
		break;
	case 10: /* a valid shape without the schema */
		wire_put_map(&w, 1);
		wire_put_uint(&w, 2);
		wire_put_cstr(&w, "response");
		break;
	case 12: /* an array longer than any in the schema */
		wire_put_map(&w, 1);
		wire_put_uint(&w, 10);
		wire_put_array(&w, REFERRAL_WIRE_ITEMS + 1);
		for (int i = 0; i <= REFERRAL_WIRE_ITEMS; i++)
			wire_put_cstr(&w, "x");
		break;
	case 13: /* ... and a 64-item one: the schema decides (too many) */
		wire_put_map(&w, 1);
		wire_put_uint(&w, 10);
		wire_put_array(&w, REFERRAL_WIRE_ITEMS);
		for (int i = 0; i < REFERRAL_WIRE_ITEMS; i++)
			wire_put_cstr(&w, "x");
		break;
	case 11: /* age_estimate huge */
		wire_put_map(&w, 1);
		wire_put_uint(&w, 8);
		wire_put_map(&w, 1);
		wire_put_uint(&w, 5);
		wire_put_uint(&w, UINT64_MAX);
		break;
	}
	if (wire_buf_take(&w, &out, len) != 0)
		return (NULL);
	return (out);
}

TEST(wire_strict)
{
	static const struct {
		int variant, code;
		const char *msg;
	} v[] = {
		{ 0, 0, "" },
		{ 1, FERRY_EUNKNOWNFIELD, "document: unknown field number 20" },
		{ 2, FERRY_ENONCANON, "document: non-canonical encoding" },
		{ 3, FERRY_EDUPKEY, "document: duplicate map key" },
		{ 4, FERRY_EBADVALUE, "in_reply_to: must be 16 bytes" },
		{ 5, FERRY_ETYPE, "case_id: must be a str" },
		{ 6, FERRY_ETYPE, "document: field has the wrong type" },
		{ 7, FERRY_ETYPE, "responder: must be a map" },
		{ 8, FERRY_ENESTING, "document: nesting too deep" },
		{ 9, FERRY_ETYPE, "document: must be a map" },
		{ 10, FERRY_ESCHEMA, "schema: required" },
		{ 11, FERRY_EBADVALUE,
		    "subject.age_estimate: must be an integer from 0 to 120" },
		{ 12, FERRY_ETOOBIG,
		    "document: value, body or frame too large" },
		{ 13, FERRY_ESCHEMA, "schema: required" },
	};
	char err[REFERRAL_ERR_MAX], *j;
	uint8_t *w;
	size_t wl, i;
	int rc;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK((w = hand(v[i].variant, &wl)) != NULL);
		rc = dec(w, wl, err, sizeof(err));
		if (rc != v[i].code || strcmp(err, v[i].msg) != 0) {
			printf("# variant %d: got %d \"%s\"\n", v[i].variant,
			    rc, err);
			t_failed_now = 1;
		}
		if (v[i].variant == 0) {
			CHECK_EQ(referral_wire_to_json(w, wl, &j), 0);
			CHECK(strstr(j, "\"in_reply_to\": "
			    "\"01000000000000000000000000000000\"") != NULL);
			free(j);
			/* Checking only, no output wanted. */
			CHECK_EQ(referral_wire_to_json_at(w, wl, NOW, NULL,
			    NULL, 0, NULL), 0);
		} else
			CHECK(referral_wire_to_json(w, wl, &j) != 0 &&
			    j == NULL);
		free(w);
	}
}

/* A well-formed wire document that breaks a rule is refused like JSON. */
TEST(wire_rules)
{
	char err[REFERRAL_ERR_MAX];
	uint8_t *w;
	size_t wl, i;
	int found = 0;

	CHECK((w = wire_of("nrm-adult-labour", &wl)) != NULL);
	/* consent (7) = map of 5 { 1: true ... }: make it false. */
	for (i = 0; i + 3 < wl; i++) {
		if (w[i] == 0x07 && w[i + 1] == 0x85 && w[i + 2] == 0x01 &&
		    w[i + 3] == 0xc3) {
			w[i + 3] = 0xc2;
			found = 1;
			break;
		}
	}
	CHECK(found);
	CHECK_EQ(dec(w, wl, err, sizeof(err)), FERRY_ECONSENT);
	CHECK(strcmp(err, "consent.referral: adult NRM referral requires "
	    "consent") == 0);
	free(w);
}

/* Every single-bit change is refused or yields a valid document. */
TEST(wire_bit_flips)
{
	char err[REFERRAL_ERR_MAX], *j;
	uint8_t *w;
	size_t wl, i;
	int bit, rc, ok = 0, bad = 0;

	CHECK((w = wire_of("health-charity-to-nhs", &wl)) != NULL);
	for (i = 0; i < wl; i++) {
		for (bit = 0; bit < 8; bit++) {
			w[i] ^= (uint8_t)(1 << bit);
			rc = referral_wire_to_json_at(w, wl, NOW, &j, err,
			    sizeof(err), NULL);
			if (rc == 0) {
				ok++;
				if (referral_validate_json_at(j, strlen(j),
				    NOW, NULL, 0, NULL) != 0)
					t_failed_now = 1;
				free(j);
			} else {
				bad++;
				if (j != NULL || err[0] == '\0')
					t_failed_now = 1;
			}
			w[i] ^= (uint8_t)(1 << bit);
		}
	}
	CHECK(bad > 0);
	CHECK(ok > 0);	/* flips inside free text stay valid */
	free(w);
}

TEST(response_builder)
{
	static const uint8_t id[16] = { 0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0x01 };
	struct referral_party p = { "Priya Shah", "Housing officer",
	    "camden-council", NULL, "p.shah@camden.example.gov.uk" };
	struct referral_info info;
	char err[REFERRAL_ERR_MAX], *j;

	CHECK_EQ(referral_response_json("MET-2026-88213", id, "accepted",
	    NULL, "Room booked.", &p, &j, err, sizeof(err)), 0);
	CHECK_EQ(referral_validate_json(j, strlen(j), err, sizeof(err),
	    &info), 0);
	CHECK(strcmp(info.response, "accepted") == 0);
	CHECK(memcmp(info.in_reply_to, id, 16) == 0);
	CHECK(strcmp(info.case_id, "MET-2026-88213") == 0);
	CHECK(strstr(j, "\"in_reply_to\": \"abcd0000000000000000000000000001\"")
	    != NULL);
	free(j);
	CHECK_EQ(referral_response_json("MET-2026-88213", id, "declined",
	    NULL, NULL, &p, &j, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(j == NULL);
	CHECK(strcmp(err, "reason: required when response is declined") == 0);
	CHECK_EQ(referral_response_json("MET-2026-88213", id, "declined",
	    "Out of area", NULL, &p, &j, err, sizeof(err)), 0);
	free(j);
	CHECK_EQ(referral_response_json("bad case", id, "closed", NULL, NULL,
	    &p, &j, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strncmp(err, "case_id: ", 9) == 0);
	CHECK_EQ(referral_response_json("C-1", id, "shrug", NULL, NULL,
	    &p, &j, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK_EQ(referral_response_json("C-1", id, "closed", "\xff", NULL,
	    &p, &j, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strcmp(err, "reason: must be a string") == 0);
	p.organisation = NULL;
	CHECK_EQ(referral_response_json("C-1", id, "closed", NULL, NULL,
	    &p, &j, err, sizeof(err)), FERRY_ESCHEMA);
	CHECK(strcmp(err, "responder.organisation: required") == 0);
	CHECK_EQ(referral_response_json(NULL, id, "closed", NULL, NULL,
	    &p, &j, err, sizeof(err)), FERRY_EINVAL);
}

/*
 * The thread (referral-schema.md section 4): what `ferry reply` may
 * answer with, by what the answered message is.
 */
TEST(thread_answers)
{
	static const struct {
		const char *kind, *response, *answer;
		int want;
	} t[] = {
		{ "referral", NULL, "accepted", 0 },
		{ "referral", NULL, "declined", 0 },
		{ "referral", NULL, "more-information-needed", 0 },
		{ "referral", NULL, "closed", 0 },
		{ "referral", NULL, "information-provided", FERRY_ESCHEMA },
		{ "response", "more-information-needed", "information-provided",
		    0 },
		{ "response", "more-information-needed", "closed", 0 },
		{ "response", "more-information-needed", "accepted",
		    FERRY_ESCHEMA },
		{ "response", "more-information-needed",
		    "more-information-needed", FERRY_ESCHEMA },
		{ "response", "information-provided", "accepted", 0 },
		{ "response", "information-provided", "declined", 0 },
		{ "response", "information-provided",
		    "more-information-needed", 0 },
		{ "response", "information-provided", "closed", 0 },
		{ "response", "information-provided", "information-provided",
		    FERRY_ESCHEMA },
		{ "response", "accepted", "closed", 0 },
		{ "response", "accepted", "accepted", FERRY_ESCHEMA },
		{ "response", "accepted", "information-provided",
		    FERRY_ESCHEMA },
		{ "response", "declined", "closed", 0 },
		{ "response", "declined", "declined", FERRY_ESCHEMA },
		{ "response", "closed", "closed", FERRY_ESCHEMA },
		{ "response", "closed", "accepted", FERRY_ESCHEMA },
		{ "response", "shrug", "closed", FERRY_EINVAL },
		{ "response", NULL, "closed", FERRY_EINVAL },
		{ "note", NULL, "closed", FERRY_EINVAL },
		{ "referral", NULL, "shrug", FERRY_ESCHEMA },
	};
	char err[REFERRAL_ERR_MAX];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(err, 'x', sizeof(err));
		CHECK_EQ(referral_answer_check(t[i].kind, t[i].response,
		    t[i].answer, err, sizeof(err)), t[i].want);
		CHECK((err[0] == '\0') == (t[i].want == 0));
	}
	referral_answer_check("referral", NULL, "information-provided", err,
	    sizeof(err));
	CHECK(strcmp(err, "response: information-provided cannot answer a "
	    "referral: it is answered with accepted, declined, "
	    "more-information-needed, closed (the thread, referral-schema.md "
	    "section 4)") == 0);
	referral_answer_check("response", "accepted", "accepted", err,
	    sizeof(err));
	CHECK(strcmp(err, "response: accepted cannot answer a response "
	    "accepted: it is answered with closed (the thread, "
	    "referral-schema.md section 4)") == 0);
	referral_answer_check("response", "closed", "closed", err,
	    sizeof(err));
	CHECK(strncmp(err, "response: the case is closed", 28) == 0);
	referral_answer_check("referral", NULL, "shrug", err, sizeof(err));
	CHECK(strncmp(err, "response: must be one of accepted, ", 35) == 0);
}

/* tests/vectors/referrals/invalid/NAME.json with NAME.err: "CODE message". */
TEST(invalid_vectors)
{
	char path[512], want[512], got[600], err[REFERRAL_ERR_MAX];
	struct dirent *de;
	DIR *dir;
	char *s, *e;
	size_t len, elen;
	int n = 0, rc;

	CHECK((dir = opendir(VEC "invalid")) != NULL);
	while ((de = readdir(dir)) != NULL) {
		size_t nl = strlen(de->d_name);

		if (nl < 6 || strcmp(de->d_name + nl - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "invalid/%.*s", (int)(nl - 5),
		    de->d_name);
		CHECK((s = slurp(path, ".json", &len)) != NULL);
		CHECK((e = slurp(path, ".err", &elen)) != NULL);
		snprintf(want, sizeof(want), "%.*s", (int)elen, e);
		want[strcspn(want, "\n")] = '\0';
		rc = referral_validate_json_at(s, len, NOW, err, sizeof(err),
		    NULL);
		snprintf(got, sizeof(got), "%s %s", ferry_errname(rc), err);
		if (strcmp(got, want) != 0) {
			printf("# %s: got \"%s\", want \"%s\"\n", path, got,
			    want);
			t_failed_now = 1;
		}
		free(s);
		free(e);
		n++;
	}
	closedir(dir);
	CHECK(n >= 5);
}

/*
 * Review of session 10: the text of a JSON error reaches log lines (the
 * spool's spool-failed): it names where, never quotes the document (it
 * quoted up to 20 bytes of it: a victim's name).
 */
TEST(json_error_quotes_nothing)
{
	static const char doc[] =
	    "{\"schema\": \"ferry-referral/1\", \"subject\": "
	    "{\"family_name\": \"Popescu\tSecretname\"}}";
	char err[REFERRAL_ERR_MAX];
	int rc;

	rc = referral_validate_json_at(doc, sizeof(doc) - 1, NOW, err,
	    sizeof(err), NULL);
	CHECK_EQ(rc, FERRY_EJSON);
	CHECK(strstr(err, "line 1 column") != NULL);
	CHECK(strstr(err, "Popescu") == NULL);
	CHECK(strstr(err, "Secretname") == NULL);
}

int
main(void)
{

	t_init();
	RUN(valid_examples_validate);
	RUN(info);
	RUN(round_trip_and_golden_wire);
	RUN(wire_is_canonical);
	RUN(wire_json_text_as_jansson);
	RUN(rules_refused_with_exact_messages);
	RUN(long_path_cut);
	RUN(lengths);
	RUN(attachment_limits);
	RUN(not_json);
	RUN(wire_truncated_and_trailing);
	RUN(wire_strict);
	RUN(wire_rules);
	RUN(wire_bit_flips);
	RUN(response_builder);
	RUN(thread_answers);
	RUN(invalid_vectors);
	RUN(json_error_quotes_nothing);
	return (t_done());
}
