/* plugin.c -- the loopback plugin's entry point: registers the host-memory allocator and the
 * backend for GIDS_CUDA, with the entries the CUDA plugin lacks left NULL (loopback_entries.h)
 * and, inside the entries it has, what it refuses refused alike (refusals.c).
 *
 * Environment, read once at load:
 *   GIDS_LOOPBACK_ALL=1            fill every entry, also those the CUDA plugin lacks, and
 *                                  compute what the CUDA plugin's entries refuse (the dtypes
 *                                  and reductions its kernels lack, refusals.c): to see what
 *                                  else a device run would hit once they exist.  Without it
 *                                  those are refused with the CUDA plugin's code and message.
 *   GIDS_LOOPBACK_DISABLE=a,b      leave these entries NULL too (as a CUDA build without them)
 *   GIDS_LOOPBACK_POISON=0         do not fill new device blocks with 0xFF (allocator.c)
 *   GIDS_LOOPBACK_MEMORY_MIB=N     the device's memory (default a quarter of the host's RAM)
 */
#include <stdlib.h>
#include <string.h>

#include "loopback_entries.h"
#include "loopback_impl.h"

#define LB_FIELD(name, cuda) .name = lb_##name,
static const gids_backend full_ = {
    .abi = GIDS_BACKEND_ABI, .name = "loopback", LB_ENTRIES(LB_FIELD)};

#define LB_ROW(name, cuda)                                                                         \
    {#name, offsetof(gids_backend, name), (cuda) != 0,                                             \
     offsetof(gids_backend, name) >= offsetof(gids_backend, copy), true},
static lb_entry entries_[] = {LB_ENTRIES(LB_ROW)};
#define N_ENTRIES ((int)(sizeof entries_ / sizeof entries_[0]))

typedef void (*any_fn)(void);
/* Every field after `name` is listed: a field added to gids_backend without a line in
 * LB_ENTRIES stops the build here. */
_Static_assert(sizeof(gids_backend) - offsetof(gids_backend, device_count) ==
                   sizeof entries_ / sizeof entries_[0] * sizeof(any_fn),
               "LB_ENTRIES (loopback_entries.h) must list every field of gids_backend");

static gids_backend backend_;

__attribute__((visibility("default"))) const lb_entry *gids_loopback_entries(int *n) {
    *n = N_ENTRIES;
    return entries_;
}

static lb_entry *find(const char *name, size_t len) {
    for (int k = 0; k < N_ENTRIES; k++)
        if (strlen(entries_[k].name) == len && strncmp(entries_[k].name, name, len) == 0)
            return &entries_[k];
    return NULL;
}

/* Marks the entries named in GIDS_LOOPBACK_DISABLE (comma-separated) absent. */
static gids_status apply_disable(const char *list) {
    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len > 0) {
            lb_entry *e = find(p, len);
            GIDS_CHECK(e != NULL, GIDS_EINVAL,
                       "loopback: GIDS_LOOPBACK_DISABLE names '%.*s', which is not an entry of "
                       "gids_backend (see runtime/src/loopback/loopback_entries.h)",
                       (int)len, p);
            GIDS_CHECK(e->nullable, GIDS_EINVAL,
                       "loopback: GIDS_LOOPBACK_DISABLE names '%s', which the runtime needs "
                       "(only copy and the op entries after it may be absent)",
                       e->name);
            e->present = false;
        }
        p += len;
        if (*p == ',') p++;
    }
    return GIDS_OK;
}

__attribute__((visibility("default"))) gids_status gids_cuda_plugin_init(void) {
    const char *all = getenv("GIDS_LOOPBACK_ALL");
    bool fill_all = all != NULL && strcmp(all, "1") == 0;
    for (int k = 0; k < N_ENTRIES; k++) entries_[k].present = fill_all || entries_[k].in_cuda;
    lb_refusals_init(fill_all);
    const char *off = getenv("GIDS_LOOPBACK_DISABLE");
    if (off != NULL) GIDS_TRY(apply_disable(off));
    GIDS_TRY(lb_alloc_init());
    backend_ = full_;
    /* A NULL function pointer is all-zero bytes on every target this builds for; memset avoids
     * writing a field through an lvalue of another function-pointer type. */
    for (int k = 0; k < N_ENTRIES; k++)
        if (!entries_[k].present) memset((char *)&backend_ + entries_[k].offset, 0, sizeof(any_fn));
    gids_allocator_register(GIDS_CUDA, &lb_allocator);
    gids_backend_register(GIDS_CUDA, &backend_);
    return GIDS_OK;
}
