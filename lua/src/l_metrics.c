/* l_metrics.c -- the hot loops of graphids.metrics (stdlib/graphids/metrics.lua builds the metric
 * tables on top of these).  Labels and predictions are 0-based class ids.
 *
 *   local s = graphids.core.metrics_binary(scores, labels)         -- table: auroc, ap, ...
 *   local cm = graphids.core.metrics_confusion(preds, labels, 3)   -- [3,3] i64, rows: true class
 *   local ece = graphids.core.metrics_ece(confidence, correct)     -- 15 bins unless {n_bins =}
 *
 * The options of the curve functions: num_classes (default 2: labels are 0/1), positive (the
 * positive class id, default 1; one-vs-rest for multiclass), and for metrics_binary min_recall
 * (0.95) and min_precision (0.99).
 */
#include "binding.h"
#include "gids/metrics.h"

static const char *const binary_opts[] = {"num_classes", "positive", "min_recall", "min_precision",
                                          NULL};
static const char *const curve_opts[] = {"num_classes", "positive", NULL};

static void set_num(lua_State *L, const char *k, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, int64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static int l_metrics_binary(lua_State *L) {
    gids_tensor *s = l_checktensor(L, 1), *y = l_checktensor(L, 2);
    l_checkopts(L, 3, "metrics_binary", binary_opts);
    l_checkend(L, 3, "metrics_binary");
    lua_Integer k = l_optint(L, 3, "num_classes", 2), pos = l_optint(L, 3, "positive", 1);
    double mr = l_optnum(L, 3, "min_recall", 0.95), mp = l_optnum(L, 3, "min_precision", 0.99);
    gids_binary_summary b;
    l_check(L, gids_metrics_binary(&b, s, y, (int64_t)k, (int64_t)pos, mr, mp));
    lua_createtable(L, 0, 14);
    set_int(L, "n", b.n);
    set_int(L, "positives", b.positives);
    set_int(L, "negatives", b.negatives);
    set_int(L, "distinct", b.distinct);
    set_num(L, "auroc", b.auroc);
    set_num(L, "ap", b.ap);
    set_num(L, "youden_threshold", b.youden_threshold);
    set_num(L, "youden_j", b.youden_j);
    set_num(L, "min_recall", b.min_recall);
    set_num(L, "precision_at_recall", b.precision_at_recall);
    set_num(L, "threshold_at_recall", b.threshold_at_recall);
    set_num(L, "min_precision", b.min_precision);
    set_num(L, "recall_at_precision", b.recall_at_precision);
    set_num(L, "threshold_at_precision", b.threshold_at_precision);
    return 1;
}

typedef gids_status (*curve_fn)(gids_tensor **, gids_tensor **, gids_tensor **, const gids_tensor *,
                                const gids_tensor *, int64_t, int64_t);

static int push_curve(lua_State *L, const char *fname, curve_fn fn) {
    gids_tensor *s = l_checktensor(L, 1), *y = l_checktensor(L, 2);
    l_checkopts(L, 3, fname, curve_opts);
    l_checkend(L, 3, fname);
    lua_Integer k = l_optint(L, 3, "num_classes", 2), pos = l_optint(L, 3, "positive", 1);
    l_tensor *a = l_newtensor(L), *b = l_newtensor(L), *c = l_newtensor(L);
    l_check(L, fn(&a->t, &b->t, &c->t, s, y, (int64_t)k, (int64_t)pos));
    return 3;
}

/* fpr, tpr, thresholds (sklearn.metrics.roc_curve with drop_intermediate=false). */
static int l_metrics_roc_curve(lua_State *L) {
    return push_curve(L, "metrics_roc_curve", gids_metrics_roc_curve);
}

/* precision, recall, thresholds (sklearn.metrics.precision_recall_curve). */
static int l_metrics_pr_curve(lua_State *L) {
    return push_curve(L, "metrics_pr_curve", gids_metrics_pr_curve);
}

static int l_metrics_confusion(lua_State *L) {
    gids_tensor *p = l_checktensor(L, 1), *y = l_checktensor(L, 2);
    lua_Integer k = luaL_checkinteger(L, 3);
    l_checkend(L, 3, "metrics_confusion");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_metrics_confusion(&out->t, p, y, (int64_t)k));
    return 1;
}

static int l_metrics_threshold_confusion(lua_State *L) {
    gids_tensor *s = l_checktensor(L, 1), *y = l_checktensor(L, 2);
    double thr = luaL_checknumber(L, 3);
    l_checkend(L, 3, "metrics_threshold_confusion");
    l_tensor *out = l_newtensor(L);
    l_check(L, gids_metrics_threshold_confusion(&out->t, s, y, thr));
    return 1;
}

static const char *const ece_opts[] = {"n_bins", NULL};

static int l_metrics_ece(lua_State *L) {
    gids_tensor *c = l_checktensor(L, 1), *ok = l_checktensor(L, 2);
    l_checkopts(L, 3, "metrics_ece", ece_opts);
    l_checkend(L, 3, "metrics_ece");
    lua_Integer nb = l_optint(L, 3, "n_bins", GIDS_METRICS_ECE_BINS);
    double ece = 0.0;
    l_check(L, gids_metrics_ece(&ece, c, ok, (int64_t)nb));
    lua_pushnumber(L, ece);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"metrics_binary", l_metrics_binary},
    {"metrics_roc_curve", l_metrics_roc_curve},
    {"metrics_pr_curve", l_metrics_pr_curve},
    {"metrics_confusion", l_metrics_confusion},
    {"metrics_threshold_confusion", l_metrics_threshold_confusion},
    {"metrics_ece", l_metrics_ece},
    {NULL, NULL},
};

void l_open_metrics(lua_State *L, int module, int methods) {
    (void)methods; /* module functions only: these are not Tensor methods */
    l_setfuncs(L, module, funcs);
}
