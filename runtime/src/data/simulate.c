/* simulate.c -- the built-in CAN traffic simulator (the embedded default dataset).
 *
 * A vehicle is a set of periodic ECUs drawn from (seed, vehicle): 11-bit ids, per-id period
 * (10 ms .. 1 s) and jitter, DLC mostly 8, payload bytes that are constants, slowly drifting
 * signals, a rolling 4-bit counter and an XOR checksum.  Frames go through a 500 kbit/s bus
 * model: a source is ready at its scheduled time, the bus sends one frame at a time and the
 * lowest id among the ready sources wins arbitration, so a flood of id 0x000 delays the rest as
 * on a real bus.  Attacks come from one more source that is active in bursts (the second
 * quarter of every quarter of the capture):
 *   DoS         id 0x000, zero payload, every 0.3 ms
 *   fuzzing     random id, DLC 8 random bytes, every 0.5 ms
 *   gear / rpm  a fixed payload on the gear (0x43F) / RPM (0x316) id, every 1 ms
 *   replay      the traffic of an earlier stretch sent again with its original spacing
 *   suspension  the RPM ECU falls silent; every frame sent meanwhile is labelled 1
 * Injected frames are labelled 1.  Every random number is Philox 4x32-10 keyed by the seed,
 * on a stream fixed by (vehicle, attack, capture), so output does not depend on threads.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gids/can.h"
#include "gids/rng.h"
#include "gids/runtime.h"

/* ------------------------------------------------------------------ random stream */

typedef struct srng {
    uint32_t key[2];
    uint32_t stream[2];
    uint64_t ctr;
    uint32_t buf[4];
    int left;
} srng;

static void srng_init(srng *r, uint64_t seed, uint64_t stream) {
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->stream[0] = (uint32_t)stream;
    r->stream[1] = (uint32_t)(stream >> 32);
    r->ctr = 0;
    r->left = 0;
}

static uint32_t next32(srng *r) {
    if (r->left == 0) {
        uint32_t c[4] = {(uint32_t)r->ctr, (uint32_t)(r->ctr >> 32), r->stream[0], r->stream[1]};
        gids_philox4x32(c, r->key, r->buf);
        r->ctr++;
        r->left = 4;
    }
    return r->buf[--r->left];
}

/* Uniform in [0, 1) with 32 random bits (plenty for timing and choices). */
static double unif(srng *r) {
    return next32(r) * (1.0 / 4294967296.0);
}
static uint32_t below(srng *r, uint32_t n) {
    return (uint32_t)(unif(r) * n);
}

/* ------------------------------------------------------------------ vehicle model */

enum { MAX_ECUS = 72, ROLE_CONST = 0, ROLE_SIGNAL, ROLE_COUNTER, ROLE_CHECKSUM };
#define RPM_ID 0x316u
#define GEAR_ID 0x43Fu

typedef struct ecu {
    uint32_t id;
    uint8_t dlc;
    uint8_t role[GIDS_CAN_MAX_DLC];
    uint8_t value[GIDS_CAN_MAX_DLC];
    double period, jitter; /* seconds */
    double sched, next;    /* the nominal time of the next frame, and its jittered time */
    uint8_t counter;
} ecu;

typedef struct vehicle {
    int n;
    ecu e[MAX_ECUS];
} vehicle;

/* Whether one of the first n ECUs has this id. */
static int taken(const vehicle *v, int n, uint32_t id) {
    for (int i = 0; i < n; i++)
        if (v->e[i].id == id) return 1;
    return 0;
}

/* The ECU set of one vehicle: a pure function of (seed, vehicle). */
static void make_vehicle(vehicle *v, uint64_t seed, int which) {
    srng r;
    srng_init(&r, seed, 0x7665680000000000ull + (uint64_t)which);
    static const double PERIODS[] = {0.01, 0.01, 0.02, 0.02, 0.02, 0.05, 0.05,
                                     0.1,  0.1,  0.1,  0.2,  0.5,  1.0};
    v->n = 40 + (int)below(&r, 24);
    for (int i = 0; i < v->n; i++) {
        ecu *e = &v->e[i];
        memset(e, 0, sizeof *e);
        if (i == 0)
            e->id = RPM_ID;
        else if (i == 1)
            e->id = GEAR_ID;
        else
            do e->id = 0x040 + below(&r, 0x7C0); /* distinct ids */
            while (taken(v, i, e->id));
        e->dlc = unif(&r) < 0.75 ? 8 : (uint8_t)(2 + below(&r, 6));
        e->period = i < 2 ? 0.01 : PERIODS[below(&r, sizeof PERIODS / sizeof *PERIODS)];
        e->jitter = e->period * (0.002 + 0.02 * unif(&r));
        int cc = e->dlc >= 3 && unif(&r) < 0.5; /* counter and checksum in the last two bytes */
        for (int b = 0; b < e->dlc; b++) {
            e->role[b] = unif(&r) < 0.45 ? ROLE_SIGNAL : ROLE_CONST;
            e->value[b] = (uint8_t)next32(&r);
        }
        if (cc) {
            e->role[e->dlc - 2] = ROLE_COUNTER;
            e->role[e->dlc - 1] = ROLE_CHECKSUM;
        }
    }
}

/* The next payload of an ECU: signals drift by small steps, the counter rolls, the checksum is
 * the XOR of the other bytes. */
static void ecu_payload(ecu *e, srng *r, uint8_t *out) {
    uint8_t x = 0;
    for (int b = 0; b < e->dlc; b++) {
        switch (e->role[b]) {
        case ROLE_SIGNAL:
            if (unif(r) < 0.3) e->value[b] = (uint8_t)(e->value[b] + (int)below(r, 5) - 2);
            out[b] = e->value[b];
            break;
        case ROLE_COUNTER: out[b] = (uint8_t)((e->value[b] & 0xF0) | (e->counter++ & 0x0F)); break;
        case ROLE_CHECKSUM: out[b] = 0; break;
        default: out[b] = e->value[b];
        }
        if (e->role[b] != ROLE_CHECKSUM) x ^= out[b];
    }
    for (int b = 0; b < e->dlc; b++)
        if (e->role[b] == ROLE_CHECKSUM) out[b] = x;
}

/* Seconds on a 500 kbit/s bus: 47 bits of framing plus the payload, about 1 stuff bit per 5. */
static double frame_time(int dlc) {
    return (47.0 + 8.0 * dlc) * 1.2 / 500000.0;
}

/* ------------------------------------------------------------------ one capture */

void gids_can_sim_opts_init(gids_can_sim_opts *o) {
    if (o == NULL) return; /* no options to set */
    memset(o, 0, sizeof *o);
    o->seed = 0;
    o->frames = 25000;
}

typedef struct injector {
    gids_can_attack kind;
    double period, next;
    uint8_t spoof[GIDS_CAN_MAX_DLC];
    int64_t replay_from; /* replay: the recorded frame sent next */
    double replay_shift; /* replay: added to the recorded frame's time */
} injector;

/* Whether time t lies in an attack burst: the second quarter of each quarter of the capture. */
static int active(double t, double dur) {
    double cycle = dur / 4, ph = fmod(t, cycle) / cycle;
    return ph >= 0.25 && ph < 0.5;
}

static void emit(gids_can_frames *f, double ts, uint32_t id, uint8_t dlc, const uint8_t *d,
                 uint8_t attack) {
    int64_t i = f->n++;
    f->ts[i] = nearbyint(ts * 1e6) / 1e6; /* microseconds, as candump and HCRL captures */
    f->id[i] = id;
    f->dlc[i] = dlc;
    f->flags[i] = 0;
    f->attack[i] = attack;
    memset(f->data + i * GIDS_CAN_MAX_DLC, 0, GIDS_CAN_MAX_DLC);
    memcpy(f->data + i * GIDS_CAN_MAX_DLC, d, dlc);
}

gids_status gids_can_simulate(const gids_can_sim_opts *o, gids_can_attack attack,
                              gids_can_frames *out) {
    GIDS_CHECK(out != NULL, GIDS_EINVAL, "can_simulate: out is NULL");
    gids_can_frames_init(out);
    GIDS_CHECK(o != NULL, GIDS_EINVAL, "can_simulate: options are NULL");
    GIDS_CHECK(o->frames >= 1 && o->frames <= 100000000, GIDS_EINVAL,
               "can_simulate: frames must be in 1..100000000, got %lld", (long long)o->frames);
    GIDS_CHECK(attack >= 0 && attack < GIDS_CAN_ATK_COUNT_, GIDS_EINVAL,
               "can_simulate: attack %d out of range", (int)attack);
    GIDS_CHECK(o->vehicle >= 0 && o->capture >= 0, GIDS_EINVAL,
               "can_simulate: vehicle %d and capture %d must be >= 0", o->vehicle, o->capture);
    GIDS_TRY(gids_can_frames_reserve(out, o->frames));
    vehicle v;
    make_vehicle(&v, o->seed, o->vehicle);
    srng r;
    srng_init(&r, o->seed,
              ((uint64_t)o->vehicle << 40) ^ ((uint64_t)attack << 32) ^ (uint64_t)o->capture);
    double rate = 0, t0 = 1.7e9 + 3600.0 * below(&r, 24 * 365); /* epoch seconds, like HCRL */
    for (int i = 0; i < v.n; i++) {
        ecu *e = &v.e[i];
        e->sched = t0 + e->period * unif(&r);
        e->next = e->sched;
        rate += 1 / e->period;
    }
    double dur = (double)o->frames / rate; /* the capture's length without attack frames */
    injector inj = {attack, 0, 0, {0}, 0, 0};
    switch (attack) {
    case GIDS_CAN_ATK_DOS: inj.period = 0.0003; break;
    case GIDS_CAN_ATK_FUZZING: inj.period = 0.0005; break;
    case GIDS_CAN_ATK_GEAR:
    case GIDS_CAN_ATK_RPM:
        inj.period = 0.001;
        for (int b = 0; b < GIDS_CAN_MAX_DLC; b++) inj.spoof[b] = (uint8_t)next32(&r);
        break;
    default: break;
    }
    inj.next = t0;
    double bus = t0;
    int replaying = 0;
    uint8_t d[GIDS_CAN_MAX_DLC];
    while (out->n < o->frames) {
        /* The earliest ready time decides when the bus next carries a frame. */
        double ready = INFINITY;
        for (int i = 0; i < v.n; i++) ready = fmin(ready, v.e[i].next);
        int inj_on = inj.period > 0 || attack == GIDS_CAN_ATK_REPLAY;
        if (inj_on) ready = fmin(ready, inj.next);
        if (bus < ready) bus = ready;
        int on = active(bus - t0, dur);
        /* The injector: sends when it is ready and in a burst; outside bursts it idles. */
        if (inj_on && inj.next <= bus) {
            if (!on) {
                replaying = 0;
                inj.next = bus + 0.001;
            } else if (attack == GIDS_CAN_ATK_REPLAY) {
                if (!replaying) { /* replay what the bus carried one burst length ago */
                    double lag = 1.5 * dur / 16;
                    int64_t j = out->n;
                    while (j > 0 && out->ts[j - 1] > bus - lag) j--;
                    inj.replay_from = j;
                    inj.replay_shift = bus - (j < out->n ? out->ts[j] : bus);
                    replaying = 1;
                }
                int64_t j = inj.replay_from;
                while (j < out->n && out->attack[j]) j++;
                if (j < out->n && out->ts[j] + inj.replay_shift <= bus) {
                    /* ECUs with a lower id that are ready win arbitration first. */
                    emit(out, bus, out->id[j], out->dlc[j], out->data + j * GIDS_CAN_MAX_DLC, 1);
                    bus += frame_time(out->dlc[j]);
                    inj.replay_from = j + 1;
                    int64_t k = j + 1;
                    while (k < out->n && out->attack[k]) k++;
                    inj.next = k < out->n ? out->ts[k] + inj.replay_shift : bus + 0.001;
                    continue;
                }
                inj.next = j < out->n ? out->ts[j] + inj.replay_shift : bus + 0.001;
            } else {
                uint32_t id = 0;
                uint8_t dlc = 8;
                memcpy(d, inj.spoof, sizeof d);
                if (attack == GIDS_CAN_ATK_FUZZING) {
                    id = below(&r, 0x800);
                    for (int b = 0; b < 8; b++) d[b] = (uint8_t)next32(&r);
                } else if (attack == GIDS_CAN_ATK_GEAR) {
                    id = GEAR_ID;
                } else if (attack == GIDS_CAN_ATK_RPM) {
                    id = RPM_ID;
                }
                /* Arbitration: a ready ECU with a lower id goes first. */
                int lower = 0;
                for (int i = 0; i < v.n && !lower; i++)
                    lower = v.e[i].next <= bus && v.e[i].id < id;
                if (!lower) {
                    emit(out, bus, id, dlc, d, 1);
                    bus += frame_time(dlc);
                    inj.next += inj.period;
                    if (inj.next < bus - inj.period) inj.next = bus; /* no catch-up burst */
                    continue;
                }
            }
        }
        /* The ready ECU with the lowest id. */
        int best = -1;
        for (int i = 0; i < v.n; i++)
            if (v.e[i].next <= bus && (best < 0 || v.e[i].id < v.e[best].id)) best = i;
        if (best < 0) continue; /* only the injector was ready and it idled */
        ecu *e = &v.e[best];
        e->sched += e->period;
        e->next = e->sched + e->jitter * (unif(&r) * 2 - 1);
        if (attack == GIDS_CAN_ATK_SUSPENSION && e->id == RPM_ID && on) continue; /* silent */
        ecu_payload(e, &r, d);
        emit(out, bus, e->id, e->dlc, d, (uint8_t)(attack == GIDS_CAN_ATK_SUSPENSION && on));
        bus += frame_time(e->dlc);
    }
    return GIDS_OK;
}

/* ------------------------------------------------------------------ a dataset on disk */

typedef struct sim_file {
    const char *folder;
    gids_can_attack attack;
    int vehicle; /* 0 and 1 are the training vehicles, 2 the unknown one */
} sim_file;

static const sim_file LAYOUT[] = {
    {"train_01_attack_free", GIDS_CAN_ATK_NONE, 0},
    {"train_01_attack_free", GIDS_CAN_ATK_NONE, 1},
    {"train_02_with_attacks", GIDS_CAN_ATK_DOS, 0},
    {"train_02_with_attacks", GIDS_CAN_ATK_FUZZING, 1},
    {"train_02_with_attacks", GIDS_CAN_ATK_GEAR, 0},
    {"train_02_with_attacks", GIDS_CAN_ATK_RPM, 1},
    {"test_01_known_vehicle_known_attack", GIDS_CAN_ATK_DOS, 1},
    {"test_01_known_vehicle_known_attack", GIDS_CAN_ATK_FUZZING, 0},
    {"test_01_known_vehicle_known_attack", GIDS_CAN_ATK_GEAR, 1},
    {"test_01_known_vehicle_known_attack", GIDS_CAN_ATK_RPM, 0},
    {"test_02_unknown_vehicle_known_attack", GIDS_CAN_ATK_DOS, 2},
    {"test_02_unknown_vehicle_known_attack", GIDS_CAN_ATK_FUZZING, 2},
    {"test_03_known_vehicle_unknown_attack", GIDS_CAN_ATK_REPLAY, 0},
    {"test_03_known_vehicle_unknown_attack", GIDS_CAN_ATK_SUSPENSION, 1},
    {"test_04_unknown_vehicle_unknown_attack", GIDS_CAN_ATK_REPLAY, 2},
    {"test_04_unknown_vehicle_unknown_attack", GIDS_CAN_ATK_SUSPENSION, 2},
};
enum { NFILES = sizeof LAYOUT / sizeof *LAYOUT };

static gids_status make_dir(const char *path) {
    if (mkdir(path, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        GIDS_CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode), GIDS_EIO,
                   "can_simulate: %s exists and is not a directory", path);
        return GIDS_OK;
    }
    GIDS_FAIL(GIDS_EIO, "can_simulate: cannot create %s: %s", path, strerror(errno));
}

gids_status gids_can_simulate_dataset(const char *dir, const gids_can_sim_opts *o,
                                      gids_can_sim_report *report) {
    GIDS_CHECK(dir != NULL && *dir && o != NULL, GIDS_EINVAL,
               "can_simulate: dir and options are required");
    GIDS_CHECK(strlen(dir) < 3800, GIDS_EINVAL, "can_simulate: dir path too long");
    GIDS_TRY(make_dir(dir));
    char path[NFILES][4096];
    for (int i = 0; i < NFILES; i++) {
        snprintf(path[i], sizeof path[i], "%s/%s", dir, LAYOUT[i].folder);
        GIDS_TRY(make_dir(path[i]));
        /* attack-free-v1.csv, DoS-v2.csv, ...: the catalog reads the attack type from the name */
        const char *name = LAYOUT[i].attack == GIDS_CAN_ATK_NONE
                               ? "attack-free"
                               : gids_can_attack_name(LAYOUT[i].attack);
        size_t len = strlen(path[i]);
        snprintf(path[i] + len, sizeof path[i] - len, "/%s-v%d.csv", name, LAYOUT[i].vehicle + 1);
    }
    gids_status st[NFILES];
    char(*msg)[GIDS_ERROR_MAX] = malloc(sizeof *msg * NFILES); /* each task's own message */
    GIDS_CHECK(msg != NULL, GIDS_ENOMEM, "can_simulate: out of memory for the files' messages");
    int64_t frames[NFILES], attacks[NFILES];
#pragma omp parallel for num_threads(gids_get_num_threads()) schedule(dynamic, 1)
    for (int i = 0; i < NFILES; i++) {
        gids_can_sim_opts fo = *o;
        fo.vehicle = LAYOUT[i].vehicle;
        fo.capture = i;
        gids_can_frames f;
        st[i] = gids_can_simulate(&fo, LAYOUT[i].attack, &f);
        if (st[i] == GIDS_OK) st[i] = gids_can_write_csv(path[i], &f, 0, f.n);
        if (st[i] != GIDS_OK) snprintf(msg[i], sizeof msg[i], "%s", gids_error_message());
        frames[i] = f.n;
        attacks[i] = 0;
        for (int64_t k = 0; k < f.n; k++) attacks[i] += f.attack[k];
        gids_can_frames_free(&f);
    }
    gids_can_sim_report r = {0, 0, 0};
    gids_status s = GIDS_OK;
    for (int i = 0; i < NFILES && s == GIDS_OK; i++) {
        if (st[i] != GIDS_OK) s = gids_error_set(st[i], __FILE__, __LINE__, "%s", msg[i]);
        r.files++;
        r.frames += frames[i];
        r.attack_frames += attacks[i];
    }
    free(msg);
    if (s == GIDS_OK && report) *report = r;
    return s;
}
