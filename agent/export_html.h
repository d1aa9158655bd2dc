/*
 * export_html.h: the readable page of a subject access export (`ferry
 * export`): one self-contained HTML document (inline CSS, no script,
 * nothing fetched; print-friendly), every string from the export
 * HTML-escaped.  The export is the JSON object the agent's "export"
 * control command answers (agentd_export, docs/agent.md).
 */
#ifndef FERRY_EXPORT_HTML_H
#define FERRY_EXPORT_HTML_H

#include <stdio.h>

#include <jansson.h>

/** export_html(o, x): the page of export ${x} onto ${o}; 0, or -1 on a write error. */
int export_html(FILE *o, json_t *x);

#endif
