/* gids/graphids.h -- the whole runtime in one include.
 *
 *   #include <gids/graphids.h>
 *   gids_tensor *a = NULL, *b = NULL;
 *   int64_t shape[2] = {3, 3};
 *   gids_generator *g = gids_default_generator();
 *   if (gids_randn(&a, g, GIDS_F32, 2, shape) != GIDS_OK ||
 *       gids_matmul(&b, a, a) != GIDS_OK)
 *       fprintf(stderr, "graphids: %s\n", gids_error_message());
 *   gids_tensor_release(b); gids_tensor_release(a);
 *
 * Link with `pkg-config --libs graphids`.
 */
#ifndef GIDS_GRAPHIDS_H
#define GIDS_GRAPHIDS_H

#include "gids/amp.h"
#include "gids/autograd.h"
#include "gids/backend.h"
#include "gids/can.h"
#include "gids/dtype.h"
#include "gids/graph.h"
#include "gids/graphset.h"
#include "gids/io.h"
#include "gids/memory.h"
#include "gids/metrics.h"
#include "gids/net.h"
#include "gids/nvml.h"
#include "gids/ops.h"
#include "gids/optim.h"
#include "gids/rng.h"
#include "gids/rnn.h"
#include "gids/runtime.h"
#include "gids/sha256.h"
#include "gids/status.h"
#include "gids/tensor.h"
#include "gids/windows.h"

#endif
