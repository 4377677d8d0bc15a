/* can_rules.c -- names of the log formats and simulated attacks, and the labelling rules
 * ("115#4E0002000000FFFF", "115#R", "00000000") that mark frames of unlabeled logs as attacks. */
#include <string.h>

#include "can_parse.h"

static const char *const FORMAT_NAMES[GIDS_CAN_FMT_COUNT_] = {
    "auto", "csv", "candump", "candump-ta", "hcrl-csv", "hcrl-txt", "columns"};

const char *gids_can_format_name(gids_can_format f) {
    return f >= 0 && f < GIDS_CAN_FMT_COUNT_ ? FORMAT_NAMES[f] : NULL;
}

gids_status gids_can_format_parse(const char *name, gids_can_format *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "can format: out is NULL");
    GIDS_CHECK(name != NULL, GIDS_EINVAL, "can format: name is NULL");
    for (int i = 0; i < GIDS_CAN_FMT_COUNT_; i++)
        if (strcmp(name, FORMAT_NAMES[i]) == 0) {
            *out = (gids_can_format)i;
            return GIDS_OK;
        }
    GIDS_FAIL(GIDS_EINVAL,
              "unknown CAN log format '%s' (expected auto, csv, candump, candump-ta, hcrl-csv, "
              "hcrl-txt or columns)",
              name);
}

static const char *const ATTACK_NAMES[GIDS_CAN_ATK_COUNT_] = {
    "normal", "DoS", "fuzzing", "gear", "rpm", "replay", "suspension"};

const char *gids_can_attack_name(gids_can_attack a) {
    return a >= 0 && a < GIDS_CAN_ATK_COUNT_ ? ATTACK_NAMES[a] : NULL;
}

gids_status gids_can_rule_parse(const char *text, gids_can_rule *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "attack rule: out is NULL");
    GIDS_CHECK(text != NULL, GIDS_EINVAL, "attack rule: text is NULL");
    memset(out, 0, sizeof *out);
    const char *end = text + strlen(text), *hash = strchr(text, '#');
    can_perr e = {NULL, ""};
    const char *ide = hash ? hash : end;
    int r = can_scan_id(text, ide, &out->id, &out->flags, &e);
    if (r == CAN_ROW_OK && hash != NULL) {
        out->match_data = 1;
        if (hash[1] == 'R' || hash[1] == 'r') {
            out->flags |= GIDS_CAN_REMOTE;
            r = can_scan_remote(hash + 1, end, &out->dlc, "ID#R or ID#R<DLC 0-8>", &e);
        } else {
            r = can_scan_payload(hash + 1, end, out->data, &out->dlc, "the payload", &e);
        }
    }
    if (r != CAN_ROW_OK)
        GIDS_FAIL(GIDS_EINVAL, "attack rule '%s' (character %d): %s", text, (int)(e.at - text + 1),
                  e.msg);
    return GIDS_OK;
}
