/* metrics.c -- metric hot loops: input checks, binary curves (AUROC, AP, Youden's J, operating
 * points, ROC/PR curves), confusion matrices and the expected calibration error.
 *
 * Curves follow scikit-learn's _binary_clf_curve: scores are sorted descending once (the
 * runtime's stable radix sort on order-preserving keys, so the sort is exact in f64 and the
 * same on every run) and tied scores collapse into one point whose key equals theirs.  Counts
 * stay integers to the end: AUROC is an exact integer area divided once, and Youden's J is
 * compared as TP*N - FP*P, so ties in J are real ties and the first one wins as np.argmax would.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core_impl.h"
#include "gids/metrics.h"
#include "sort_impl.h"

/* ---------------------------------------------------------------- input checks */

/* A 1-D CPU tensor read through its stride. */
typedef struct vec {
    const char *base; /* element 0 */
    int64_t n, stride;
    gids_dtype dt;
} vec;

static gids_status vec_of(const char *op, const char *arg, const gids_tensor *t, vec *v) {
    GIDS_CHECK(t != NULL, GIDS_EINVAL, "%s: %s is NULL", op, arg);
    GIDS_TRY(gids_check_cpu(op, arg, t));
    if (t->ndim != 1) {
        char buf[96];
        GIDS_FAIL(GIDS_ESHAPE, "%s: %s must be 1-D, got shape %s", op, arg,
                  gids_shape_str(t->ndim, t->shape, buf, sizeof buf));
    }
    v->base = gids_tensor_data(t);
    v->n = t->shape[0];
    v->stride = t->stride[0];
    v->dt = t->dtype;
    return GIDS_OK;
}

static inline double score_at(const vec *v, int64_t i) {
    return v->dt == GIDS_F32 ? ((const float *)v->base)[i * v->stride]
                             : ((const double *)v->base)[i * v->stride];
}

static inline int64_t label_at(const vec *v, int64_t i) {
    return gids_load_i64(v->base, v->dt, i * v->stride);
}

/* Float scores, finite (sklearn rejects NaN and inf too: a NaN has no place in a ranking, and
 * +inf would collide with the "nothing positive" threshold of the first ROC point).  When lo <=
 * hi, values must also lie in [lo, hi]. */
static gids_status check_scores(const char *op, const char *arg, const gids_tensor *t, vec *v,
                                double lo, double hi) {
    GIDS_TRY(vec_of(op, arg, t, v));
    GIDS_CHECK(v->dt == GIDS_F32 || v->dt == GIDS_F64, GIDS_EDTYPE,
               "%s: %s must be f32 or f64, got %s", op, arg, gids_dtype_name(v->dt));
    for (int64_t i = 0; i < v->n; i++) {
        double s = score_at(v, i);
        if (!isfinite(s))
            GIDS_FAIL(GIDS_EINVAL, "%s: %s[%lld] is %s; scores must be finite (0-based index)", op,
                      arg, (long long)i,
                      isnan(s) ? "NaN"
                      : s > 0  ? "inf"
                               : "-inf");
        if (lo <= hi && (s < lo || s > hi))
            GIDS_FAIL(GIDS_EINVAL, "%s: %s[%lld] = %.9g is outside [%g, %g] (0-based index)", op,
                      arg, (long long)i, s, lo, hi);
    }
    return GIDS_OK;
}

/* Integer class ids in [0, k), of length n (the other input's). */
static gids_status check_labels(const char *op, const char *arg, const gids_tensor *t, vec *v,
                                int64_t n, int64_t k, const char *per) {
    GIDS_TRY(vec_of(op, arg, t, v));
    GIDS_CHECK(gids_dtype_is_int(v->dt) || v->dt == GIDS_BOOL, GIDS_EDTYPE,
               "%s: %s must be an integer or bool tensor of class ids, got %s", op, arg,
               gids_dtype_name(v->dt));
    GIDS_CHECK(v->n == n, GIDS_ESHAPE, "%s: %s has %lld elements, expected %lld (one per %s)", op,
               arg, (long long)v->n, (long long)n, per);
    for (int64_t i = 0; i < n; i++) {
        int64_t c = label_at(v, i);
        if (c < 0 || c >= k)
            GIDS_FAIL(GIDS_EINDEX, "%s: %s[%lld] = %lld is outside [0, %lld) (0-based index)", op,
                      arg, (long long)i, (long long)c, (long long)k);
    }
    return GIDS_OK;
}

static gids_status check_nonempty(const char *op, int64_t n) {
    GIDS_CHECK(n > 0, GIDS_EINVAL, "%s: scores are empty; a metric needs at least one sample", op);
    return GIDS_OK;
}

/* ---------------------------------------------------------------- binary curve */

/* Point j (0-based) holds the samples with score >= thr[j]: tps[j] positives, fps[j] negatives.
 * Thresholds strictly decrease with j. */
typedef struct curve {
    int64_t m, pos, neg;
    int64_t *tps, *fps;
    double *thr;
} curve;

static void curve_free(curve *c) {
    free(c->tps);
    free(c->fps);
    free(c->thr);
    memset(c, 0, sizeof *c);
}

/* Checks the inputs and builds the curve of (labels == positive) against scores. */
static gids_status curve_build(const char *op, curve *c, const gids_tensor *scores,
                               const gids_tensor *labels, int64_t k, int64_t positive) {
    vec s, l;
    memset(c, 0, sizeof *c);
    GIDS_CHECK(k >= 1, GIDS_EINVAL, "%s: num_classes must be >= 1, got %lld", op, (long long)k);
    GIDS_CHECK(positive >= 0 && positive < k, GIDS_EINVAL,
               "%s: positive_class %lld is outside [0, %lld)", op, (long long)positive,
               (long long)k);
    GIDS_TRY(check_scores(op, "scores", scores, &s, 1, 0));
    GIDS_TRY(check_nonempty(op, s.n));
    GIDS_TRY(check_labels(op, "labels", labels, &l, s.n, k, "score"));
    int64_t n = s.n;
    size_t bytes = (size_t)n * sizeof(int64_t);
    uint64_t *keys = malloc(bytes), *tkeys = malloc(bytes);
    int64_t *idx = malloc(bytes), *tidx = malloc(bytes);
    c->tps = malloc(bytes);
    c->fps = malloc(bytes);
    c->thr = malloc((size_t)n * sizeof(double));
    if (!keys || !tkeys || !idx || !tidx || !c->tps || !c->fps || !c->thr) {
        free(keys), free(tkeys), free(idx), free(tidx);
        curve_free(c);
        GIDS_FAIL(GIDS_ENOMEM, "%s: cannot allocate the sort of %lld scores", op, (long long)n);
    }
    gids_sort_make_keys(s.base, s.dt, n, s.stride, true, keys);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    gids_sort_keys(keys, idx, tkeys, tidx, n);
    int64_t tp = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        tp += label_at(&l, idx[i]) == positive;
        if (i + 1 == n || keys[i + 1] != keys[i]) {
            c->tps[m] = tp;
            c->fps[m] = i + 1 - tp;
            c->thr[m] = score_at(&s, idx[i]);
            if (c->thr[m] == 0.0) c->thr[m] = 0.0; /* -0.0 and +0.0 share a key: report +0 */
            m++;
        }
    }
    free(keys), free(tkeys), free(idx), free(tidx);
    c->m = m;
    c->pos = tp;
    c->neg = n - tp;
    return GIDS_OK;
}

/* Exact trapezoidal area: each step adds dFP * (TP_prev + TP) / 2 in units of 1 / (P N); the
 * doubled area is an integer, summed in 128 bits and divided once. */
static double curve_auroc(const curve *c) {
    if (c->pos == 0 || c->neg == 0) return NAN;
    unsigned __int128 area2 = 0;
    int64_t tp0 = 0, fp0 = 0;
    for (int64_t j = 0; j < c->m; j++) {
        area2 += (unsigned __int128)(c->fps[j] - fp0) * (unsigned __int128)(c->tps[j] + tp0);
        tp0 = c->tps[j];
        fp0 = c->fps[j];
    }
    return (double)((long double)area2 / (2.0L * (long double)c->pos * (long double)c->neg));
}

static double curve_ap(const curve *c) {
    if (c->pos == 0) return NAN;
    double sum = 0.0;
    int64_t tp0 = 0;
    for (int64_t j = 0; j < c->m; j++) {
        if (c->tps[j] != tp0)
            sum +=
                (double)(c->tps[j] - tp0) * ((double)c->tps[j] / (double)(c->tps[j] + c->fps[j]));
        tp0 = c->tps[j];
    }
    return sum / (double)c->pos;
}

static void curve_youden(const curve *c, double *thr, double *j) {
    if (c->pos == 0 || c->neg == 0) {
        *thr = *j = NAN;
        return;
    }
    /* The (0,0) point first: J = 0 at threshold +inf. */
    __int128 best = 0;
    int64_t at = -1;
    for (int64_t i = 0; i < c->m; i++) {
        __int128 v = (__int128)c->tps[i] * c->neg - (__int128)c->fps[i] * c->pos;
        if (v > best) best = v, at = i;
    }
    if (at < 0) {
        *thr = INFINITY;
        *j = 0.0;
        return;
    }
    *thr = c->thr[at];
    *j = (double)c->tps[at] / (double)c->pos - (double)c->fps[at] / (double)c->neg;
}

static void curve_operating_points(const curve *c, gids_binary_summary *o) {
    if (c->pos == 0) {
        o->precision_at_recall = o->threshold_at_recall = NAN;
        o->recall_at_precision = o->threshold_at_precision = NAN;
        return;
    }
    /* Higher threshold = earlier point, so a strict '>' on (value, tie value) keeps the highest
     * threshold among exact ties. */
    double bp = -1, br = -1, bt = NAN; /* precision at recall */
    double rr = -1, rp = -1, rt = NAN; /* recall at precision */
    for (int64_t j = 0; j < c->m; j++) {
        double p = (double)c->tps[j] / (double)(c->tps[j] + c->fps[j]);
        double r = (double)c->tps[j] / (double)c->pos;
        if (r >= o->min_recall && (p > bp || (p == bp && r > br))) bp = p, br = r, bt = c->thr[j];
        if (p >= o->min_precision && (r > rr || (r == rr && p > rp)))
            rr = r, rp = p, rt = c->thr[j];
    }
    /* Recall 1 is reached at the last point, so bp is always set. */
    o->precision_at_recall = bp;
    o->threshold_at_recall = bt;
    if (rr < 0) {
        o->recall_at_precision = 0.0;
        o->threshold_at_precision = INFINITY;
    } else {
        o->recall_at_precision = rr;
        o->threshold_at_precision = rt;
    }
}

gids_status gids_metrics_binary(gids_binary_summary *out, const gids_tensor *scores,
                                const gids_tensor *labels, int64_t num_classes,
                                int64_t positive_class, double min_recall, double min_precision) {
    const char *op = "metrics_binary";
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_CHECK(min_recall >= 0 && min_recall <= 1, GIDS_EINVAL,
               "%s: min_recall must be in [0, 1], got %g", op, min_recall);
    GIDS_CHECK(min_precision >= 0 && min_precision <= 1, GIDS_EINVAL,
               "%s: min_precision must be in [0, 1], got %g", op, min_precision);
    curve c;
    GIDS_TRY(curve_build(op, &c, scores, labels, num_classes, positive_class));
    gids_binary_summary o;
    memset(&o, 0, sizeof o);
    o.n = c.pos + c.neg;
    o.positives = c.pos;
    o.negatives = c.neg;
    o.distinct = c.m;
    o.auroc = curve_auroc(&c);
    o.ap = curve_ap(&c);
    curve_youden(&c, &o.youden_threshold, &o.youden_j);
    o.min_recall = min_recall;
    o.min_precision = min_precision;
    curve_operating_points(&c, &o);
    curve_free(&c);
    *out = o;
    return GIDS_OK;
}

/* The curve of the inputs and three new f64 vectors of c->m + 1 points for it (the curve
 * outputs); on failure nothing is left allocated. */
static gids_status curve_with_outputs(const char *op, curve *c, const gids_tensor *scores,
                                      const gids_tensor *labels, int64_t k, int64_t positive,
                                      gids_tensor *out[3]) {
    GIDS_TRY(curve_build(op, c, scores, labels, k, positive));
    int64_t n = c->m + 1;
    for (int i = 0; i < 3; i++) {
        out[i] = NULL;
        gids_status s = gids_empty_named(op, &out[i], GIDS_F64, GIDS_DEVICE_CPU, 1, &n);
        if (s != GIDS_OK) {
            for (int j = 0; j < i; j++) gids_tensor_release(out[j]);
            curve_free(c);
            return s;
        }
    }
    return GIDS_OK;
}

gids_status gids_metrics_roc_curve(gids_tensor **fpr, gids_tensor **tpr, gids_tensor **thresholds,
                                   const gids_tensor *scores, const gids_tensor *labels,
                                   int64_t num_classes, int64_t positive_class) {
    const char *op = "metrics_roc_curve";
    GIDS_CHECK(fpr && tpr && thresholds, GIDS_EINVAL, "%s: an output pointer is NULL", op);
    curve c;
    gids_tensor *o[3];
    GIDS_TRY(curve_with_outputs(op, &c, scores, labels, num_classes, positive_class, o));
    gids_tensor *f = o[0], *t = o[1], *h = o[2];
    double *pf = gids_tensor_data(f), *pt = gids_tensor_data(t), *ph = gids_tensor_data(h);
    /* 0/0 gives NaN as numpy's division does (sklearn warns and keeps it). */
    double dn = c.neg ? (double)c.neg : NAN, dp = c.pos ? (double)c.pos : NAN;
    pf[0] = c.neg ? 0.0 : NAN;
    pt[0] = c.pos ? 0.0 : NAN;
    ph[0] = INFINITY;
    for (int64_t j = 0; j < c.m; j++) {
        pf[j + 1] = (double)c.fps[j] / dn;
        pt[j + 1] = (double)c.tps[j] / dp;
        ph[j + 1] = c.thr[j];
    }
    curve_free(&c);
    *fpr = f;
    *tpr = t;
    *thresholds = h;
    return GIDS_OK;
}

gids_status gids_metrics_pr_curve(gids_tensor **precision, gids_tensor **recall,
                                  gids_tensor **thresholds, const gids_tensor *scores,
                                  const gids_tensor *labels, int64_t num_classes,
                                  int64_t positive_class) {
    const char *op = "metrics_pr_curve";
    GIDS_CHECK(precision && recall && thresholds, GIDS_EINVAL, "%s: an output pointer is NULL", op);
    curve c;
    gids_tensor *o[3];
    GIDS_TRY(curve_with_outputs(op, &c, scores, labels, num_classes, positive_class, o));
    gids_tensor *p = o[0], *r = o[1], *h = o[2];
    double *pp = gids_tensor_data(p), *pr = gids_tensor_data(r), *ph = gids_tensor_data(h);
    for (int64_t j = 0; j < c.m; j++) {
        int64_t at = c.m - 1 - j; /* ascending thresholds */
        pp[j] = (double)c.tps[at] / (double)(c.tps[at] + c.fps[at]);
        pr[j] = c.pos ? (double)c.tps[at] / (double)c.pos : 1.0;
        ph[j] = c.thr[at];
    }
    int64_t m = c.m;
    pp[m] = 1.0;
    pr[m] = 0.0;
    curve_free(&c);
    /* thresholds has m entries: a narrow of the m + 1 allocated. */
    gids_tensor *hm = NULL;
    gids_status st = gids_narrow(&hm, h, 0, 0, m);
    gids_tensor_release(h);
    if (st != GIDS_OK) {
        gids_tensor_release(p);
        gids_tensor_release(r);
        return st;
    }
    *precision = p;
    *recall = r;
    *thresholds = hm;
    return GIDS_OK;
}

/* ---------------------------------------------------------------- confusion matrices */

gids_status gids_metrics_confusion(gids_tensor **out, const gids_tensor *preds,
                                   const gids_tensor *labels, int64_t num_classes) {
    const char *op = "metrics_confusion";
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_CHECK(num_classes >= 1, GIDS_EINVAL, "%s: num_classes must be >= 1, got %lld", op,
               (long long)num_classes);
    int64_t cells;
    GIDS_CHECK(gids_mul_ok(num_classes, num_classes, &cells) && cells <= (INT64_C(1) << 31),
               GIDS_EINVAL, "%s: num_classes %lld is too large for a confusion matrix", op,
               (long long)num_classes);
    vec p, l;
    GIDS_TRY(vec_of(op, "preds", preds, &p));
    GIDS_TRY(check_labels(op, "preds", preds, &p, p.n, num_classes, "prediction"));
    GIDS_TRY(check_labels(op, "labels", labels, &l, p.n, num_classes, "prediction"));
    gids_tensor *cm = NULL;
    int64_t shape[2] = {num_classes, num_classes};
    GIDS_TRY(gids_zeros_named(op, &cm, GIDS_I64, GIDS_DEVICE_CPU, 2, shape));
    int64_t *d = gids_tensor_data(cm);
    for (int64_t i = 0; i < p.n; i++) d[label_at(&l, i) * num_classes + label_at(&p, i)]++;
    *out = cm;
    return GIDS_OK;
}

gids_status gids_metrics_threshold_confusion(gids_tensor **out, const gids_tensor *scores,
                                             const gids_tensor *labels, double threshold) {
    const char *op = "metrics_threshold_confusion";
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_CHECK(!isnan(threshold), GIDS_EINVAL, "%s: threshold is NaN", op);
    vec s, l;
    GIDS_TRY(check_scores(op, "scores", scores, &s, 1, 0));
    GIDS_TRY(check_labels(op, "labels", labels, &l, s.n, 2, "score"));
    int64_t c[4] = {0, 0, 0, 0}; /* row-major [[TN, FP], [FN, TP]] */
    for (int64_t i = 0; i < s.n; i++) c[2 * label_at(&l, i) + (score_at(&s, i) >= threshold)]++;
    gids_tensor *cm = NULL;
    int64_t shape[2] = {2, 2};
    GIDS_TRY(gids_from_buffer(&cm, GIDS_I64, 2, shape, c));
    *out = cm;
    return GIDS_OK;
}

/* ---------------------------------------------------------------- calibration */

gids_status gids_metrics_ece(double *out, const gids_tensor *confidence, const gids_tensor *correct,
                             int64_t n_bins) {
    const char *op = "metrics_ece";
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "%s: out is NULL", op);
    GIDS_CHECK(n_bins >= 1 && n_bins <= 100000, GIDS_EINVAL,
               "%s: n_bins must be in [1, 100000], got %lld", op, (long long)n_bins);
    vec s, l;
    GIDS_TRY(check_scores(op, "confidence", confidence, &s, 0, 1));
    GIDS_TRY(check_nonempty(op, s.n));
    GIDS_TRY(check_labels(op, "correct", correct, &l, s.n, 2, "confidence"));
    /* n_bins + 1 slots: the last holds confidences equal to 1 (see the header). */
    int64_t nb = n_bins + 1;
    int64_t *cnt = calloc((size_t)nb, sizeof(int64_t));
    double *conf = calloc((size_t)nb, sizeof(double));
    int64_t *hits = calloc((size_t)nb, sizeof(int64_t));
    if (!cnt || !conf || !hits) {
        free(cnt), free(conf), free(hits);
        GIDS_FAIL(GIDS_ENOMEM, "%s: cannot allocate %lld bins", op, (long long)nb);
    }
    for (int64_t i = 0; i < s.n; i++) {
        double c = score_at(&s, i);
        /* floor(c * n_bins) can land one bin off when c is a boundary k / n_bins rounded; the
         * correction compares against the boundaries themselves, computed as k / n_bins. */
        int64_t b = (int64_t)(c * (double)n_bins);
        if (b > n_bins) b = n_bins;
        while (b > 0 && c < (double)b / (double)n_bins) b--;
        while (b < n_bins && c >= (double)(b + 1) / (double)n_bins) b++;
        cnt[b]++;
        conf[b] += c;
        hits[b] += label_at(&l, i);
    }
    double ece = 0.0;
    for (int64_t b = 0; b < nb; b++) {
        if (cnt[b] == 0) continue;
        double acc = (double)hits[b] / (double)cnt[b], mc = conf[b] / (double)cnt[b];
        ece += fabs(acc - mc) * ((double)cnt[b] / (double)s.n);
    }
    free(cnt), free(conf), free(hits);
    *out = ece;
    return GIDS_OK;
}
