/* dispatch_impl.h -- internal: hands a plain op to the backend of its tensors' device.
 *
 *   gids_status gids_binary(gids_tensor **out, gids_binop op, const gids_tensor *a, ...) {
 *       GIDS_ON_DEVICE(gids_binop_name(op), binary, a, b)(out, op, a, b);
 *       ... the CPU kernel ...
 *
 * When every tensor named is on the CPU the macro does nothing (two loads and a compare each).
 * Otherwise the tensors must share one device, and the backend's entry `field` runs with the
 * arguments that follow the macro; a backend without that entry gives EUNSUPPORTED.
 */
#ifndef GIDS_DISPATCH_IMPL_H
#define GIDS_DISPATCH_IMPL_H

#include "core_impl.h"
#include "gids/backend.h"

/* True when one of the n tensors (NULL entries skipped) lives off the CPU. */
static inline bool gids_any_device(int n, const gids_tensor *const *ts) {
    for (int i = 0; i < n; i++)
        if (ts[i] != NULL && !gids_is_cpu(ts[i])) return true;
    return false;
}

#define GIDS_ON_DEVICE(name, field, ...)                                                           \
    GIDS_DEVICE_BACKEND(name, field, __VA_ARGS__);                                                 \
    if (gids_be_ != NULL) return gids_be_->field

/* GIDS_ON_DEVICE without the call: gids_be_ is the backend whose `field` runs the op (NULL when
 * every tensor named is on the CPU), for an op that does more after the backend's call. */
#define GIDS_DEVICE_BACKEND(name, field, ...)                                                      \
    const gids_tensor *const gids_dts_[] = {__VA_ARGS__};                                          \
    const int gids_dn_ = (int)(sizeof gids_dts_ / sizeof gids_dts_[0]);                            \
    const gids_backend *gids_be_ = NULL;                                                           \
    if (gids_any_device(gids_dn_, gids_dts_)) {                                                    \
        GIDS_TRY(gids_dispatch_backend((name), gids_dn_, gids_dts_, &gids_be_));                   \
        if (gids_be_->field == NULL) return gids_no_kernel((name), gids_dts_[0]);                  \
    }

#endif
