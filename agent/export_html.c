/*
 * export_html.c: the readable page of a subject access export (see
 * export_html.h).  Everything shown comes from the export: strings other
 * agencies chose (documents, names, reasons) are escaped (&, <, >, ",
 * ' and control characters), so nothing in a referral can become markup.
 * Times are as the agent gave them: ISO 8601 UTC.
 */
#include <stdio.h>
#include <string.h>

#include "export_html.h"

#define DOC_DEPTH 16	/* deeper than any valid document (REFERRAL_JSON_DEPTH) */

static const char css[] =
    "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
    "color:#1b1b1b;max-width:60em;margin:1.5em auto;padding:0 1em}"
    "h1{font-size:1.5em;margin:.2em 0}"
    "h2{font-size:1.15em;margin:1.6em 0 .4em;border-bottom:2px solid #345;"
    "padding-bottom:.15em;break-after:avoid}"
    "h3{font-size:1em;margin:.8em 0 .3em;break-after:avoid}"
    "table{border-collapse:collapse;margin:.3em 0;width:100%}"
    "th,td{border:1px solid #bbb;padding:.25em .45em;text-align:left;"
    "vertical-align:top}"
    "th{background:#eef1f4;font-weight:600;width:13em}"
    "table.list th{width:auto}"
    "td{white-space:pre-wrap;overflow-wrap:anywhere}"
    "table.doc table.doc{margin:0}"
    "ul{margin:0;padding-left:1.2em}"
    ".id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}"
    ".note{background:#f6f6ee;border:1px solid #ccb;padding:.5em .8em}"
    ".erased{background:#fbeaea;border:1px solid #c99;padding:.5em .8em}"
    ".failed{color:#a00;font-weight:600}"
    "section{margin-bottom:1.5em}"
    "@media print{body{max-width:none;margin:0;font-size:11pt}"
    "a{color:inherit;text-decoration:none}"
    "section{break-inside:auto}tr{break-inside:avoid}"
    "th{background:#eee!important;print-color-adjust:exact}}";

/* ${s} HTML-escaped onto ${o}; C0 controls (but tab, line feed) and DEL as U+FFFD. */
static void
he(FILE *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");

	for (; *p != '\0'; p++)
		switch (*p) {
		case '&': fputs("&amp;", o); break;
		case '<': fputs("&lt;", o); break;
		case '>': fputs("&gt;", o); break;
		case '"': fputs("&quot;", o); break;
		case '\'': fputs("&#39;", o); break;
		case '\t': case '\n': fputc(*p, o); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fputs("&#xFFFD;", o);
			else
				fputc(*p, o);
		}
}

/* The string ${k} of ${x}, or "" if absent. */
static const char *
s_of(json_t *x, const char *k)
{
	const char *s = json_string_value(json_object_get(x, k));

	return (s != NULL ? s : "");
}

/* A table row: header ${th}, cell ${td} escaped; none if ${td} is empty. */
static void
row(FILE *o, const char *th, const char *td, const char *cls)
{

	if (td == NULL || td[0] == '\0')
		return;
	fprintf(o, "<tr><th>%s</th><td%s%s%s>", th, cls ? " class=\"" : "",
	    cls ? cls : "", cls ? "\"" : "");
	he(o, td);
	fputs("</td></tr>\n", o);
}

/* A link to message ${id} of the page (its section), the id as text. */
static void
msg_link(FILE *o, const char *id)
{

	fputs("<a class=\"id\" href=\"#m-", o);
	he(o, id);
	fputs("\">", o);
	he(o, id);
	fputs("</a>", o);
}

/* "agency-id (Name)" of counterpart ${c}. */
static void
who(FILE *o, json_t *c)
{

	he(o, s_of(c, "id"));
	if (s_of(c, "name")[0] != '\0') {
		fputs(" (", o);
		he(o, s_of(c, "name"));
		fputs(")", o);
	}
}

/* Key ${k} of a document for a person: "date_of_birth" as "date of birth". */
static void
key_name(FILE *o, const char *k)
{
	char buf[128];
	size_t i;

	snprintf(buf, sizeof(buf), "%s", k);
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '_')
			buf[i] = ' ';
	he(o, buf);
}

/* Document value ${v} (under key ${k}, or NULL), readable. */
static void
doc_value(FILE *o, const char *k, json_t *v, int depth)
{
	const char *key;
	json_t *x;
	size_t i;

	if (depth > DOC_DEPTH) {
		fputs("(nested too deep: see the JSON file)", o);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		fputs("<table class=\"doc\">\n", o);
		json_object_foreach(v, key, x) {
			fputs("<tr><th>", o);
			key_name(o, key);
			fputs("</th><td>", o);
			doc_value(o, key, x, depth + 1);
			fputs("</td></tr>\n", o);
		}
		fputs("</table>", o);
		break;
	case JSON_ARRAY:
		if (json_array_size(v) == 0) {
			fputs("(none)", o);
			break;
		}
		fputs("<ul>", o);
		json_array_foreach(v, i, x) {
			fputs("<li>", o);
			doc_value(o, NULL, x, depth + 1);
			fputs("</li>", o);
		}
		fputs("</ul>", o);
		break;
	case JSON_STRING:
		if (k != NULL && strcmp(k, "data_base64") == 0)
			fprintf(o, "(the attachment's content: %zu characters "
			    "of base64, in the JSON file)",
			    json_string_length(v));
		else
			he(o, json_string_value(v));
		break;
	case JSON_INTEGER:
		fprintf(o, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		fprintf(o, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
		fputs("yes", o);
		break;
	case JSON_FALSE:
		fputs("no", o);
		break;
	default:
		fputs("-", o);
	}
}

/* The heading of message ${m}: "3. Sent to police (Name): referral nrm, urgent". */
static void
heading(FILE *o, json_t *m, size_t n)
{
	int sent = strcmp(s_of(m, "direction"), "sent") == 0;

	fprintf(o, "<h2>%zu. %s ", n, sent ? "Sent to" : "Received from");
	who(o, json_object_get(m, "counterpart"));
	fputs(": ", o);
	he(o, s_of(m, "kind"));
	if (s_of(m, "response")[0] != '\0') {
		fputs(" ", o);
		he(o, s_of(m, "response"));
	}
	if (s_of(m, "referral_type")[0] != '\0') {
		fputs(" ", o);
		he(o, s_of(m, "referral_type"));
	}
	if (s_of(m, "urgency")[0] != '\0') {
		fputs(", ", o);
		he(o, s_of(m, "urgency"));
	}
	fputs("</h2>\n", o);
}

/* The erasure ${e} of a message, in words. */
static void
erased_note(FILE *o, json_t *e)
{

	fputs("<p class=\"erased\">Erased ", o);
	he(o, s_of(e, "at"));
	fputs(strcmp(s_of(e, "by"), "retention") == 0 ? " by retention" :
	    " by request", o);
	if (s_of(e, "rule")[0] != '\0') {
		fputs(" (", o);
		he(o, s_of(e, "rule"));
		fputs(")", o);
	}
	if (s_of(e, "ref")[0] != '\0') {
		fputs(" (reference ", o);
		he(o, s_of(e, "ref"));
		fputs(")", o);
	}
	fputs(": its content was destroyed and is not in this export; only "
	    "its record is.</p>\n", o);
}

static void
message(FILE *o, json_t *m, size_t n)
{
	static const char *const times[] = { "queued", "accepted",
	    "delivered", "failed", "received", "read" };
	json_t *t = json_object_get(m, "times"), *f, *x;
	char th[40];
	size_t i;

	fputs("<section id=\"m-", o);
	he(o, s_of(m, "msg_id"));
	fputs("\">\n", o);
	heading(o, m, n);
	fputs("<table>\n<tr><th>Message id</th><td class=\"id\">", o);
	he(o, s_of(m, "msg_id"));
	fputs("</td></tr>\n", o);
	row(o, "Direction", s_of(m, "direction"), NULL);
	fputs("<tr><th>", o);
	fputs(strcmp(s_of(m, "direction"), "sent") == 0 ? "To" : "From", o);
	fputs(" agency</th><td>", o);
	who(o, json_object_get(m, "counterpart"));
	fputs("</td></tr>\n", o);
	row(o, "Case", s_of(m, "case_id"), NULL);
	row(o, "Kind", s_of(m, "kind"), NULL);
	row(o, "Answer", s_of(m, "response"), NULL);
	row(o, "Referral type", s_of(m, "referral_type"), NULL);
	row(o, "Urgency", s_of(m, "urgency"), NULL);
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		snprintf(th, sizeof(th), "%c%s (UTC)", times[i][0] - 'a' + 'A',
		    times[i] + 1);
		row(o, th, s_of(t, times[i]), NULL);
	}
	row(o, "State", s_of(m, "state"), strcmp(s_of(m, "state"),
	    "failed") == 0 ? "failed" : NULL);
	if ((f = json_object_get(m, "failure")) != NULL) {
		fputs("<tr><th>Failure</th><td class=\"failed\">", o);
		he(o, s_of(f, "code"));
		fputs(": ", o);
		he(o, s_of(f, "reason"));
		fputs("</td></tr>\n", o);
	}
	if (s_of(m, "in_reply_to")[0] != '\0') {
		fputs("<tr><th>Answers</th><td>", o);
		msg_link(o, s_of(m, "in_reply_to"));
		fputs("</td></tr>\n", o);
	}
	if (json_array_size(json_object_get(m, "replies")) > 0) {
		fputs("<tr><th>Answered by</th><td>", o);
		json_array_foreach(json_object_get(m, "replies"), i, x) {
			if (i > 0)
				fputs(", ", o);
			msg_link(o, json_string_value(x));
		}
		fputs("</td></tr>\n", o);
	}
	fputs("</table>\n", o);
	if ((x = json_object_get(m, "erased")) != NULL)
		erased_note(o, x);
	else if ((x = json_object_get(m, "document")) != NULL) {
		fputs("<h3>Document</h3>\n", o);
		doc_value(o, NULL, x, 0);
		fputs("\n", o);
	} else {
		fputs("<p class=\"erased\">The document could not be opened: ",
		    o);
		he(o, s_of(m, "document_error"));
		fputs(".</p>\n", o);
	}
	fputs("</section>\n", o);
}

int
export_html(FILE *o, json_t *x)
{
	json_t *msgs = json_object_get(x, "messages"), *m, *ag;
	size_t i, sent = 0, erased = 0, n = json_array_size(msgs);

	ag = json_object_get(x, "agency");
	json_array_foreach(msgs, i, m) {
		sent += strcmp(s_of(m, "direction"), "sent") == 0;
		erased += json_object_get(m, "erased") != NULL;
	}
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\""
	    "utf-8\">\n<meta name=\"viewport\" content=\"width=device-width"
	    "\">\n<title>Subject access export: case ", o);
	he(o, s_of(x, "case_id"));
	fputs(" (", o);
	he(o, s_of(ag, "id"));
	fprintf(o, ")</title>\n<style>%s</style>\n</head>\n<body>\n", css);
	fputs("<h1>Subject access export: case ", o);
	he(o, s_of(x, "case_id"));
	fputs("</h1>\n<table>\n<tr><th>Agency</th><td>", o);
	who(o, ag);
	fputs("</td></tr>\n", o);
	row(o, "Case", s_of(x, "case_id"), NULL);
	row(o, "Exported (UTC)", s_of(x, "exported_at"), NULL);
	fprintf(o, "<tr><th>Messages</th><td>%zu: %zu sent, %zu received; "
	    "%zu erased</td></tr>\n</table>\n", n, sent, n - sent, erased);
	fputs("<p class=\"note\">Every message of this case that this agency "
	    "sent or received through Ferry, oldest first, with the document "
	    "as this agency holds it.  Not in it: copies already taken into "
	    "the agency's case system or saved elsewhere, the other "
	    "agencies' own records (ask them), and the content of erased "
	    "messages.  The JSON file beside this page holds the same, "
	    "attachments included.</p>\n", o);
	fputs("<h2>Messages</h2>\n<table class=\"list\">\n<tr><th>#</th>"
	    "<th>Direction</th><th>Agency</th><th>Kind</th><th>State</th>"
	    "<th>Message id</th></tr>\n", o);
	json_array_foreach(msgs, i, m) {
		fprintf(o, "<tr><td>%zu</td><td>", i + 1);
		he(o, s_of(m, "direction"));
		fputs("</td><td>", o);
		who(o, json_object_get(m, "counterpart"));
		fputs("</td><td>", o);
		he(o, s_of(m, "kind"));
		if (s_of(m, "response")[0] != '\0') {
			fputs(" ", o);
			he(o, s_of(m, "response"));
		}
		fputs("</td><td>", o);
		he(o, json_object_get(m, "erased") != NULL ? "erased" :
		    s_of(m, "state"));
		fputs("</td><td>", o);
		msg_link(o, s_of(m, "msg_id"));
		fputs("</td></tr>\n", o);
	}
	fputs("</table>\n", o);
	json_array_foreach(msgs, i, m)
		message(o, m, i + 1);
	fputs("</body>\n</html>\n", o);
	return (ferror(o) ? -1 : 0);
}
