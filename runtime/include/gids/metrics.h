/* gids/metrics.h -- the hot loops of classification and anomaly metrics (graphids.metrics).
 *
 *   gids_binary_summary s;
 *   GIDS_TRY(gids_metrics_binary(&s, scores, labels, 2, 1, 0.95, 0.99));
 *   printf("auroc %.4f ap %.4f youden threshold %g\n", s.auroc, s.ap, s.youden_threshold);
 *   gids_tensor *cm = NULL;                      // [K,K] i64, rows = true class, cols = predicted
 *   GIDS_TRY(gids_metrics_confusion(&cm, preds, labels, 3));
 *   gids_tensor_release(cm);
 *
 * Conventions, all as scikit-learn (docs/metrics.md has the full rules):
 *  - scores are 1-D f32/f64 tensors of finite values (NaN or +-inf is an error naming the
 *    index); labels are 1-D integer (i64, i32, u8, bool) class ids in [0, num_classes); any
 *    stride; CPU only.  Scores are compared in f64.
 *  - Curves: scores sorted descending; one point per distinct score ("threshold"); point i counts
 *    the samples with score >= threshold_i as predicted positive.  Ties are grouped exactly (equal
 *    f64 values; -0.0 == +0.0), so the order of tied samples never matters.
 *  - Undefined values are NaN, not errors: AUROC when labels hold a single class, AP and the
 *    operating points when there is no positive, Youden's J when either class is missing.
 */
#ifndef GIDS_METRICS_H
#define GIDS_METRICS_H

#include <stdint.h>

#include "gids/status.h"
#include "gids/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ECE bin count used by graphids.metrics (torchmetrics' default; the reference keeps it). */
#define GIDS_METRICS_ECE_BINS 15

/* Everything one descending sort of a binary score vector gives. */
typedef struct gids_binary_summary {
    int64_t n, positives, negatives;
    int64_t distinct; /* number of distinct scores (points of the curve, the (0,0) point aside) */
    /* Area under the ROC curve (trapezoidal rule over every distinct threshold, with the (0,0)
     * start point, as sklearn.metrics.roc_auc_score); NaN when a class is missing. */
    double auroc;
    /* sum_n (R_n - R_{n-1}) P_n over the distinct thresholds in descending order, R_0 = 0, no
     * interpolation (sklearn.metrics.average_precision_score); NaN without positives. */
    double ap;
    /* argmax over the ROC points of J = TPR - FPR, compared exactly (as TP*N - FP*P in integers);
     * on ties the first point in descending-threshold order (np.argmax over sklearn's
     * roc_curve(drop_intermediate=False)), i.e. the highest threshold.  The first ROC point has
     * threshold +inf (nothing predicted positive): it wins when no threshold beats chance.
     * NaN (both) when a class is missing. */
    double youden_threshold, youden_j;
    /* Operating points over the distinct thresholds (torchmetrics' tie rule): the best precision
     * among points with recall >= min_recall (ties: higher recall, then higher threshold), and
     * the best recall among points with precision >= min_precision (ties: higher precision, then
     * higher threshold).  When no point reaches min_precision: recall 0, threshold +inf.  NaN
     * (all four) without positives. */
    double min_recall, precision_at_recall, threshold_at_recall;
    double min_precision, recall_at_precision, threshold_at_precision;
} gids_binary_summary;

/* Binary summary of `scores` against the one-vs-rest labels (label == positive_class).
 * labels must lie in [0, num_classes); 0 <= positive_class < num_classes; min_recall and
 * min_precision in [0, 1].  Empty inputs are an error.  Writes *out only on success. */
gids_status gids_metrics_binary(gids_binary_summary *out, const gids_tensor *scores,
                                const gids_tensor *labels, int64_t num_classes,
                                int64_t positive_class, double min_recall, double min_precision);

/* NEW: sklearn.metrics.roc_curve(labels == positive_class, scores, drop_intermediate=False):
 * f64 tensors of m + 1 points, the first (0, 0, +inf).  fpr (tpr) is NaN throughout when there
 * is no negative (positive), as sklearn's division gives. */
gids_status gids_metrics_roc_curve(gids_tensor **fpr, gids_tensor **tpr, gids_tensor **thresholds,
                                   const gids_tensor *scores, const gids_tensor *labels,
                                   int64_t num_classes, int64_t positive_class);

/* NEW: sklearn.metrics.precision_recall_curve(labels == positive_class, scores): precision and
 * recall have m + 1 entries in ascending-threshold order ending with (1, 0); thresholds has the
 * m distinct scores ascending.  Without positives recall is 1 everywhere (sklearn's rule). */
gids_status gids_metrics_pr_curve(gids_tensor **precision, gids_tensor **recall,
                                  gids_tensor **thresholds, const gids_tensor *scores,
                                  const gids_tensor *labels, int64_t num_classes,
                                  int64_t positive_class);

/* NEW: [K,K] i64 confusion matrix, cm[t][p] = number of samples of true class t predicted p
 * (sklearn.metrics.confusion_matrix(labels, preds, labels=range(K))).  preds and labels: 1-D
 * integer tensors of one length with values in [0, K). */
gids_status gids_metrics_confusion(gids_tensor **out, const gids_tensor *preds,
                                   const gids_tensor *labels, int64_t num_classes);

/* NEW: the [2,2] i64 confusion matrix [[TN, FP], [FN, TP]] of predicting score >= threshold
 * (compared in f64) against binary labels in {0, 1}.  threshold may be +-inf, not NaN. */
gids_status gids_metrics_threshold_confusion(gids_tensor **out, const gids_tensor *scores,
                                             const gids_tensor *labels, double threshold);

/* Expected calibration error, L1 norm, as torchmetrics: bin boundaries b_k = k / n_bins
 * (k = 0..n_bins), a confidence c goes to the bin of the last boundary <= c (so c == 1 is a bin
 * of its own, as torch.bucketize(right=True) there), ECE = sum over bins of
 * |mean(correct) - mean(c)| * count / n.  confidence: 1-D f32/f64 in [0, 1] (error naming the
 * index otherwise); correct: 1-D integer or bool of 0/1 (binary anomaly ECE passes the labels,
 * multiclass passes argmax == label). */
gids_status gids_metrics_ece(double *out, const gids_tensor *confidence, const gids_tensor *correct,
                             int64_t n_bins);

#ifdef __cplusplus
}
#endif
#endif
