/*
 * refjson.c: the fast, strict JSON reader of referral documents; see
 * refjson.h for the subset it reads and why refusing is always safe.
 *
 * Recursive descent over the text, nesting bounded by REFJSON_DEPTH; the
 * nodes in one growing array (linked by index while it grows, by pointer
 * once done) and the decoded strings in one buffer as long as the text,
 * which they cannot outgrow: a string's decoded bytes plus its NUL are
 * fewer than its quoted form.
 */
#include "refjson.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"

struct rd {
	const char *s;
	size_t len, pos;
	struct refjson_doc *d;
};

static void
skip_ws(struct rd *r)
{

	while (r->pos < r->len && (r->s[r->pos] == ' ' ||
	    r->s[r->pos] == '\n' || r->s[r->pos] == '\r' ||
	    r->s[r->pos] == '\t'))
		r->pos++;
}

/* A new node of ${type}: its index, or 0 when out of memory. */
static size_t
new_node(struct rd *r, enum refjson_type type)
{
	struct refjson_doc *d = r->d;
	struct refjson_node *p;
	size_t cap;

	if (d->n == d->cap) {
		cap = d->cap ? d->cap * 2 : 64;
		if ((p = realloc(d->nodes, cap * sizeof(*p))) == NULL)
			return (0);
		d->nodes = p;
		d->cap = cap;
	}
	memset(&d->nodes[d->n], 0, sizeof(d->nodes[0]));
	d->nodes[d->n].type = type;
	return (d->n++);
}

static int
hexval(char ch)
{

	if (ch >= '0' && ch <= '9')
		return (ch - '0');
	if (ch >= 'a' && ch <= 'f')
		return (ch - 'a' + 10);
	if (ch >= 'A' && ch <= 'F')
		return (ch - 'A' + 10);
	return (-1);
}

/* Four hex digits after "\u" at r->pos: the value, or -1. */
static long
u_escape(struct rd *r)
{
	long v = 0;
	int i, h;

	if (r->len - r->pos < 6 || r->s[r->pos] != '\\' ||
	    r->s[r->pos + 1] != 'u')
		return (-1);
	for (i = 2; i < 6; i++) {
		if ((h = hexval(r->s[r->pos + i])) < 0)
			return (-1);
		v = v * 16 + h;
	}
	r->pos += 6;
	return (v);
}

/*
 * The string whose opening quote is at r->pos, decoded into the text
 * buffer: *${out} and *${outlen}.  0, or -1.
 */
static int
read_string(struct rd *r, const char **out, size_t *outlen)
{
	char *t = r->d->text + r->d->tlen, *o = t;
	unsigned char ch, high = 0;
	long cp, lo;

	r->pos++;
	for (;;) {
		if (r->pos >= r->len)
			return (-1);
		ch = (unsigned char)r->s[r->pos];
		if (ch == '"')
			break;
		if (ch < 0x20)
			return (-1);
		if (ch != '\\') {
			high |= ch;
			*o++ = (char)ch;
			r->pos++;
			continue;
		}
		if (r->pos + 1 >= r->len)
			return (-1);
		switch (r->s[r->pos + 1]) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if ((cp = u_escape(r)) <= 0 ||
			    (cp >= 0xdc00 && cp <= 0xdfff))
				return (-1);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if ((lo = u_escape(r)) < 0xdc00 || lo > 0xdfff)
					return (-1);
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			if (cp < 0x80)
				*o++ = (char)cp;
			else if (cp < 0x800) {
				*o++ = (char)(0xc0 | (cp >> 6));
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				*o++ = (char)(0xe0 | (cp >> 12));
				*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else {
				*o++ = (char)(0xf0 | (cp >> 18));
				*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
				*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			}
			continue;	/* u_escape moved past it */
		default:
			return (-1);
		}
		r->pos += 2;
	}
	r->pos++;
	/* Escapes yield whole, valid sequences, so checking the decoded
	 * bytes checks the raw ones the text holds; raw ASCII needs none. */
	if ((high & 0x80) != 0 &&
	    !wire_utf8_valid((const uint8_t *)t, (size_t)(o - t)))
		return (-1);
	*o++ = '\0';
	*out = t;
	*outlen = (size_t)(o - t) - 1;
	r->d->tlen += (size_t)(o - t);
	return (0);
}

/* After a literal or a number: the next byte may not continue it. */
static int
ends_token(struct rd *r)
{
	char ch;

	if (r->pos >= r->len)
		return (1);
	ch = r->s[r->pos];
	return (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' ||
	    ch == ',' || ch == ']' || ch == '}');
}

static size_t read_value(struct rd *, int);

/* An object or array at r->pos (its bracket): the node's index, or 0. */
static size_t
read_container(struct rd *r, int depth)
{
	int obj = r->s[r->pos] == '{';
	size_t me, kid, last = 0, k;
	const char *key = NULL;
	size_t keylen = 0;
	struct refjson_node *nd;

	if (depth >= REFJSON_DEPTH ||
	    (me = new_node(r, obj ? REFJSON_OBJECT : REFJSON_ARRAY)) == 0)
		return (0);
	r->pos++;
	skip_ws(r);
	if (r->pos < r->len && r->s[r->pos] == (obj ? '}' : ']')) {
		r->pos++;
		return (me);
	}
	for (;;) {
		skip_ws(r);
		if (obj) {
			if (r->pos >= r->len || r->s[r->pos] != '"' ||
			    read_string(r, &key, &keylen) != 0)
				return (0);
			skip_ws(r);
			if (r->pos >= r->len || r->s[r->pos] != ':')
				return (0);
			r->pos++;
			skip_ws(r);
		}
		if ((kid = read_value(r, depth + 1)) == 0)
			return (0);
		nd = r->d->nodes;	/* read_value may have moved them */
		if (obj) {
			/* A duplicate name: jansson says so. */
			for (k = nd[me].ikid; k != 0; k = nd[k].inext)
				if (nd[k].keylen == keylen &&
				    memcmp(nd[k].key, key, keylen) == 0)
					return (0);
			nd[kid].key = key;
			nd[kid].keylen = keylen;
		}
		if (last == 0)
			nd[me].ikid = kid;
		else
			nd[last].inext = kid;
		last = kid;
		nd[me].n++;
		skip_ws(r);
		if (r->pos >= r->len)
			return (0);
		if (r->s[r->pos] == ',') {
			r->pos++;
			continue;
		}
		if (r->s[r->pos] != (obj ? '}' : ']'))
			return (0);
		r->pos++;
		return (me);
	}
}

/* The value at r->pos: its node's index, or 0 when not handled. */
static size_t
read_value(struct rd *r, int depth)
{
	static const struct {
		const char *word;
		size_t len;
		enum refjson_type type;
	} lits[] = { { "true", 4, REFJSON_TRUE },
	    { "false", 5, REFJSON_FALSE }, { "null", 4, REFJSON_NULL } };
	size_t me, i, ndig;
	const char *s;
	size_t slen;
	uint64_t u;

	if (r->pos >= r->len)
		return (0);
	switch (r->s[r->pos]) {
	case '{':
	case '[':
		return (read_container(r, depth));
	case '"':
		if (read_string(r, &s, &slen) != 0 ||
		    (me = new_node(r, REFJSON_STRING)) == 0)
			return (0);
		r->d->nodes[me].s = s;
		r->d->nodes[me].len = slen;
		return (me);
	case 't':
	case 'f':
	case 'n':
		for (i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
			if (r->len - r->pos < lits[i].len || memcmp(r->s +
			    r->pos, lits[i].word, lits[i].len) != 0)
				continue;
			r->pos += lits[i].len;
			if (!ends_token(r))
				return (0);
			return (new_node(r, lits[i].type));
		}
		return (0);
	default:
		/* 0, or 1-9 then up to 17 more digits; nothing else. */
		u = 0;
		for (ndig = 0; r->pos < r->len && r->s[r->pos] >= '0' &&
		    r->s[r->pos] <= '9'; ndig++, r->pos++) {
			if (ndig == 18 || (ndig == 1 && u == 0))
				return (0);
			u = u * 10 + (uint64_t)(r->s[r->pos] - '0');
		}
		if (ndig == 0 || !ends_token(r) ||
		    (me = new_node(r, REFJSON_INTEGER)) == 0)
			return (0);
		r->d->nodes[me].u = u;
		return (me);
	}
}

/** refjson_parse(s, len, doc): read ${s} into *${doc}, or -1 when not handled. */
int
refjson_parse(const char *s, size_t len, struct refjson_doc *doc)
{
	struct rd r = { s, len, 0, doc };
	struct refjson_node *nd;
	size_t i;

	memset(doc, 0, sizeof(*doc));
	if ((doc->text = malloc(len + 1)) == NULL)
		goto fail;
	/* Node 0 is a placeholder: index 0 means "none". */
	if (new_node(&r, REFJSON_NULL) != 0 || doc->n != 1)
		goto fail;
	skip_ws(&r);
	if (r.pos >= len || s[r.pos] != '{' || read_value(&r, 0) != 1)
		goto fail;
	skip_ws(&r);
	if (r.pos != len)
		goto fail;
	nd = doc->nodes;
	for (i = 1; i < doc->n; i++) {
		nd[i].kid = nd[i].ikid ? &nd[nd[i].ikid] : NULL;
		nd[i].next = nd[i].inext ? &nd[nd[i].inext] : NULL;
	}
	return (0);
fail:
	refjson_free(doc);
	return (-1);
}

/** refjson_free(doc): release ${doc}'s memory. */
void
refjson_free(struct refjson_doc *doc)
{

	free(doc->nodes);
	free(doc->text);
	memset(doc, 0, sizeof(*doc));
}
